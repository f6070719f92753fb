//! pgvector's `vector` as a Rust value: `struct Vector { int32 vl_len_; int16 dim; int16 unused; float x[]; }`.
use crate::spi_util::Spi;
use pgrx::{pg_sys, FromDatum, IntoDatum};

pub struct Vector(pub Vec<f32>);

pgrx::impl_sql_translatable!(Vector, "vector");

const HEADER: usize = 8; // vl_len_ + dim + unused

/// OID of pgvector's type, looked up in the schema the `vector` extension lives in.
pub fn vector_type_oid() -> pg_sys::Oid {
    Spi::get_one::<pg_sys::Oid>(
        "SELECT t.oid FROM pg_catalog.pg_type t JOIN pg_catalog.pg_extension e ON t.typnamespace = e.extnamespace
          WHERE e.extname = 'vector' AND t.typname = 'vector'",
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| pgrx::error!("ai_architect: pgvector's type 'vector' was not found; is the extension vector installed?"))
}

impl IntoDatum for Vector {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        let dim = self.0.len();
        let size = HEADER + 4 * dim;
        // SAFETY: a fresh palloc'd block of exactly `size` bytes, laid out as pgvector expects.
        unsafe {
            let ptr = pg_sys::palloc0(size) as *mut u8;
            pgrx::set_varsize_4b(ptr as *mut pg_sys::varlena, size as i32);
            (ptr.add(4) as *mut i16).write_unaligned(dim as i16);
            std::ptr::copy_nonoverlapping(self.0.as_ptr(), ptr.add(HEADER) as *mut f32, dim);
            Some(pg_sys::Datum::from(ptr))
        }
    }

    fn type_oid() -> pg_sys::Oid {
        vector_type_oid()
    }
}

impl FromDatum for Vector {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _typoid: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: the datum is a (possibly toasted) pgvector value.
        unsafe {
            let detoasted = pg_sys::pg_detoast_datum(datum.cast_mut_ptr());
            let ptr = detoasted as *const u8;
            let dim = (ptr.add(4) as *const i16).read_unaligned().max(0) as usize;
            let mut out = vec![0f32; dim];
            std::ptr::copy_nonoverlapping(ptr.add(HEADER) as *const f32, out.as_mut_ptr(), dim);
            Some(Vector(out))
        }
    }
}

// SAFETY: the datum comes from into_datum, a palloc'd pgvector value.
unsafe impl pgrx::callconv::BoxRet for Vector {
    unsafe fn box_into<'fcx>(
        self,
        fcinfo: &mut pgrx::callconv::FcInfo<'fcx>,
    ) -> pgrx::datum::Datum<'fcx> {
        match self.into_datum() {
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
            None => fcinfo.return_null(),
        }
    }
}

/// pgvector's text form of `v`, `[0.1,-0.2,...]`: what its input function reads, far
/// cheaper for a bulk statement than the same numbers as JSON.
pub fn literal(v: &[f32]) -> String {
    let mut s = String::with_capacity(v.len() * 12 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&x.to_string());
    }
    s.push(']');
    s
}

#[cfg(test)]
mod literal_tests {
    #[test]
    fn the_text_form_reads_back_exactly() {
        let v = [0.1f32, -2.5e-7, 1.0, f32::MIN_POSITIVE];
        let s = super::literal(&v);
        assert_eq!(s, "[0.1,-0.00000025,1,0.000000000000000000000000000000000000011754944]");
        let back: Vec<f32> = s[1..s.len() - 1].split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(back, v);
    }
}
