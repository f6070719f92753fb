//! xorshift64*: reproducible random inputs for the unit property tests, without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// 0 to n - 1
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
