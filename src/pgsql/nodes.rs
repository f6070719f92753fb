//! Reading raw parse tree nodes: strings and the relations a statement names.
use pgrx::pg_sys;
use std::ffi::CStr;

/// A relation a statement names, as the parser folded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub catalog: Option<String>,
    pub schema: Option<String>,
    pub name: String,
    pub alias: Option<String>,
    /// `ONLY`: inheritance children and partitions are left out
    pub only: bool,
}

impl Target {
    /// The name quoted for SQL, qualified as written.
    pub fn written(&self) -> String {
        [&self.catalog, &self.schema, &Some(self.name.clone())]
            .into_iter()
            .flatten()
            .map(|p| crate::sqlparse::ident(p))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// How the statement's own clauses refer to it: its alias, else its name.
    pub fn reference(&self) -> String {
        match &self.alias {
            Some(a) => crate::sqlparse::ident(a),
            None => self.written(),
        }
    }
}

pub(super) unsafe fn string(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

pub(super) unsafe fn target(r: *mut pg_sys::RangeVar) -> Target {
    let opt = |p: *const std::ffi::c_char| (!p.is_null()).then(|| string(p));
    Target {
        catalog: opt((*r).catalogname),
        schema: opt((*r).schemaname),
        name: string((*r).relname),
        alias: if (*r).alias.is_null() {
            None
        } else {
            opt((*(*r).alias).aliasname)
        },
        only: !(*r).inh,
    }
}
