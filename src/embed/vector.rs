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

