//! The files the embedding engine needs, checked without loading PostgreSQL:
//! path expansion, checksums, and whether the ONNX Runtime library really loads.

use sha2::{Digest, Sha256};
use std::ffi::{c_char, CStr};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The ONNX Runtime C API version the embedding engine is built against.
pub const ORT_API_VERSION: u32 = 22;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AssetError {
    #[error("{guc} = '{raw}' uses an unknown placeholder (only $libdir and $sharedir are known)")]
    UnknownPlaceholder { guc: &'static str, raw: String },
    #[error("{guc} is empty")]
    Empty { guc: &'static str },
    #[error("{guc}: file '{path}' does not exist")]
    NotFound { guc: &'static str, path: String },
    #[error("{guc}: file '{path}' cannot be read: {reason}")]
    Unreadable {
        guc: &'static str,
        path: String,
        reason: String,
    },
    #[error("{guc}: '{path}' is not a loadable ONNX Runtime library: {reason}")]
    NotLoadable {
        guc: &'static str,
        path: String,
        reason: String,
    },
}

impl AssetError {
    /// What a DBA can do about it.
    pub fn hint(&self) -> String {
        match self {
            AssetError::UnknownPlaceholder { guc, .. } | AssetError::Empty { guc } => {
                format!("set {guc} to an absolute path, or RESET it to use the installed file")
            }
            AssetError::NotFound { guc, .. } | AssetError::Unreadable { guc, .. } => format!(
                "reinstall ai_architect (make install puts the file there) or point {guc} at a readable copy"
            ),
            AssetError::NotLoadable { guc, .. } => format!(
                "{guc} must name libonnxruntime.so 1.20 or newer for this machine; reinstall ai_architect to restore it"
            ),
        }
    }
}

/// Expands a leading `$libdir` or `$sharedir` the way PostgreSQL expands `$libdir`.
pub fn expand_path(
    guc: &'static str,
    raw: &str,
    libdir: &Path,
    sharedir: &Path,
) -> Result<PathBuf, AssetError> {
    let raw_trimmed = raw.trim();
    if raw_trimmed.is_empty() {
        return Err(AssetError::Empty { guc });
    }
    if let Some(rest) = raw_trimmed.strip_prefix('$') {
        let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let base = match name {
            "libdir" => libdir,
            "sharedir" => sharedir,
            _ => {
                return Err(AssetError::UnknownPlaceholder {
                    guc,
                    raw: raw.to_string(),
                })
            }
        };
        return Ok(if tail.is_empty() {
            base.to_path_buf()
        } else {
            base.join(tail)
        });
    }
    Ok(PathBuf::from(raw_trimmed))
}

/// Size and SHA-256 (lower-case hex) of a file, streamed.
pub fn file_sha256(guc: &'static str, path: &Path) -> Result<(u64, String), AssetError> {
    let mut file = std::fs::File::open(path).map_err(|e| io_error(guc, path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| io_error(guc, path, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex(&hasher.finalize())))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_error(guc: &'static str, path: &Path, e: std::io::Error) -> AssetError {
    let path = path.display().to_string();
    if e.kind() == std::io::ErrorKind::NotFound {
        AssetError::NotFound { guc, path }
    } else {
        AssetError::Unreadable {
            guc,
            path,
            reason: e.to_string(),
        }
    }
}

/// `OrtApiBase` from onnxruntime_c_api.h: the one struct every ONNX Runtime exports.
#[repr(C)]
struct OrtApiBase {
    get_api: unsafe extern "C" fn(version: u32) -> *const std::ffi::c_void,
    get_version_string: unsafe extern "C" fn() -> *const c_char,
}

/// Loads the library (once per process and path; it stays loaded, as the engine needs it)
/// and returns the ONNX Runtime version it reports.
pub fn probe_onnxruntime(guc: &'static str, path: &Path) -> Result<String, AssetError> {
    if !path.exists() {
        return Err(AssetError::NotFound {
            guc,
            path: path.display().to_string(),
        });
    }
    let not_loadable = |reason: String| AssetError::NotLoadable {
        guc,
        path: path.display().to_string(),
        reason,
    };
    // SAFETY: loading ONNX Runtime runs only its static initialisers, which start no threads;
    // the symbol is looked up with the signature the C header gives it.
    unsafe {
        let lib = libloading::Library::new(path).map_err(|e| not_loadable(e.to_string()))?;
        let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const OrtApiBase> = lib
            .get(b"OrtGetApiBase\0")
            .map_err(|e| not_loadable(e.to_string()))?;
        let base = get_base();
        if base.is_null() {
            return Err(not_loadable("OrtGetApiBase returned NULL".into()));
        }
        let version_ptr = ((*base).get_version_string)();
        let version = if version_ptr.is_null() {
            String::from("unknown")
        } else {
            CStr::from_ptr(version_ptr).to_string_lossy().into_owned()
        };
        if ((*base).get_api)(ORT_API_VERSION).is_null() {
            return Err(not_loadable(format!(
                "ONNX Runtime {version} does not provide C API version {ORT_API_VERSION}"
            )));
        }
        // Keep the library mapped for the life of the process: unloading ONNX Runtime is
        // not supported, and the embedding engine will use this very mapping.
        std::mem::forget(lib);
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs() -> (PathBuf, PathBuf) {
        (PathBuf::from("/usr/lib/pg"), PathBuf::from("/usr/share/pg"))
    }

    #[test]
    fn expands_placeholders() {
        let (lib, share) = dirs();
        assert_eq!(
            expand_path("g", "$libdir/libonnxruntime.so", &lib, &share).unwrap(),
            PathBuf::from("/usr/lib/pg/libonnxruntime.so")
        );
        assert_eq!(
            expand_path("g", "$sharedir/extension/x/model.onnx", &lib, &share).unwrap(),
            PathBuf::from("/usr/share/pg/extension/x/model.onnx")
        );
        assert_eq!(expand_path("g", "$libdir", &lib, &share).unwrap(), lib);
        assert_eq!(
            expand_path("g", " /abs/file ", &lib, &share).unwrap(),
            PathBuf::from("/abs/file")
        );
    }

    #[test]
    fn rejects_unknown_placeholder_and_empty() {
        let (lib, share) = dirs();
        let e = expand_path("ai_architect.model_path", "$home/m.onnx", &lib, &share).unwrap_err();
        assert!(e.to_string().contains("ai_architect.model_path"), "{e}");
        assert!(e.hint().contains("RESET"));
        assert_eq!(
            expand_path("g", "  ", &lib, &share).unwrap_err(),
            AssetError::Empty { guc: "g" }
        );
    }

    #[test]
    fn sha256_of_a_file() {
        let dir = std::env::temp_dir().join(format!("ai_arch_sha_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("abc.txt");
        std::fs::write(&f, b"abc").unwrap();
        let (size, sum) = file_sha256("g", &f).unwrap();
        assert_eq!(size, 3);
        assert_eq!(
            sum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_file_names_guc_and_path() {
        let e = file_sha256(
            "ai_architect.model_path",
            Path::new("/nonexistent/model.onnx"),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("ai_architect.model_path") && msg.contains("/nonexistent/model.onnx"),
            "{msg}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_library_is_not_loadable() {
        let dir = std::env::temp_dir().join(format!("ai_arch_ort_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("libonnxruntime.so");
        std::fs::write(&f, b"this is not an ELF file").unwrap();
        let e = probe_onnxruntime("ai_architect.onnxruntime_path", &f).unwrap_err();
        assert!(matches!(e, AssetError::NotLoadable { .. }), "{e:?}");
        std::fs::remove_dir_all(&dir).unwrap();
        let e = probe_onnxruntime(
            "ai_architect.onnxruntime_path",
            Path::new("/nonexistent/libort.so"),
        )
        .unwrap_err();
        assert!(matches!(e, AssetError::NotFound { .. }), "{e:?}");
    }

    #[test]
    fn a_library_without_onnxruntime_symbols_is_not_loadable() {
        // libm is on every glibc system and is a real shared library, but not ONNX Runtime.
        let e = probe_onnxruntime("g", Path::new("/lib/x86_64-linux-gnu/libm.so.6")).unwrap_err();
        match e {
            AssetError::NotLoadable { reason, .. } => {
                assert!(reason.contains("OrtGetApiBase"), "{reason}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn the_pinned_onnxruntime_loads() {
        // Fetched by scripts/setup.sh (make test runs it first).
        let lib =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/assets/libonnxruntime.so.1.31.1");
        assert!(
            lib.exists(),
            "{} is missing: run scripts/setup.sh assets",
            lib.display()
        );
        assert_eq!(probe_onnxruntime("g", &lib).unwrap(), "1.31.1");
    }
}
