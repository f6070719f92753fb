//! `ai.version()`: what is installed and whether it works, as one jsonb a DBA can read.
//! This part is plain Rust; `api.rs` gathers what only the server knows.
pub mod api;
pub mod server;

use crate::embed::assets::{self, AssetError};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

/// One file the engine needs, as configured and as found.
#[derive(Debug, Serialize, PartialEq)]
pub struct FileStatus {
    pub guc: &'static str,
    pub setting: String,
    pub path: Option<String>,
    pub exists: bool,
    pub size_bytes: Option<u64>,
    pub sha256: Option<String>,
    pub error: Option<String>,
    pub hint: Option<String>,
}

/// The ONNX Runtime library, as configured and whether it loads.
#[derive(Debug, Serialize, PartialEq)]
pub struct RuntimeStatus {
    pub guc: &'static str,
    pub setting: String,
    pub path: Option<String>,
    pub loads: bool,
    pub version: Option<String>,
    pub error: Option<String>,
    pub hint: Option<String>,
}

/// Server directories `$libdir` and `$sharedir` stand for.
pub struct Dirs<'a> {
    pub libdir: &'a Path,
    pub sharedir: &'a Path,
}

type ShaKey = (String, u64, Option<SystemTime>);
static SHA_CACHE: Mutex<Option<HashMap<ShaKey, String>>> = Mutex::new(None);

/// Checksums a file, reusing the last result while its size and mtime are unchanged
/// (a 23 MB model takes ~60 ms to hash; ai.version() should stay instant).
fn cached_sha256(guc: &'static str, path: &Path) -> Result<(u64, String), AssetError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => AssetError::NotFound {
            guc,
            path: path.display().to_string(),
        },
        _ => AssetError::Unreadable {
            guc,
            path: path.display().to_string(),
            reason: e.to_string(),
        },
    })?;
    let key = (path.display().to_string(), meta.len(), meta.modified().ok());
    if let Some(sum) = SHA_CACHE
        .lock()
        .ok()
        .and_then(|c| c.as_ref().and_then(|m| m.get(&key).cloned()))
    {
        return Ok((meta.len(), sum));
    }
    let (size, sum) = assets::file_sha256(guc, path)?;
    if let Ok(mut cache) = SHA_CACHE.lock() {
        cache
            .get_or_insert_with(HashMap::new)
            .insert(key, sum.clone());
    }
    Ok((size, sum))
}

/// Expands a path setting and runs `op` on the result: the expanded path (when the setting
/// could be expanded) and the outcome.
fn check<T>(
    guc: &'static str,
    setting: &str,
    dirs: &Dirs,
    op: impl FnOnce(&Path) -> Result<T, AssetError>,
) -> (Option<String>, Result<T, AssetError>) {
    match assets::expand_path(guc, setting, dirs.libdir, dirs.sharedir) {
        Ok(path) => (Some(path.display().to_string()), op(&path)),
        Err(e) => (None, Err(e)),
    }
}

pub fn file_status(guc: &'static str, setting: &str, dirs: &Dirs) -> FileStatus {
    let (path, result) = check(guc, setting, dirs, |p| cached_sha256(guc, p));
    let exists = path.as_deref().is_some_and(|p| Path::new(p).is_file());
    let (ok, error) = split(result);
    FileStatus {
        guc,
        setting: setting.to_string(),
        path,
        exists,
        size_bytes: ok.as_ref().map(|(size, _)| *size),
        sha256: ok.map(|(_, sum)| sum),
        hint: error.as_ref().map(AssetError::hint),
        error: error.map(|e| e.to_string()),
    }
}

pub fn runtime_status(guc: &'static str, setting: &str, dirs: &Dirs) -> RuntimeStatus {
    let (path, result) = check(guc, setting, dirs, |p| assets::probe_onnxruntime(guc, p));
    let (version, error) = split(result);
    RuntimeStatus {
        guc,
        setting: setting.to_string(),
        path,
        loads: version.is_some(),
        version,
        hint: error.as_ref().map(AssetError::hint),
        error: error.map(|e| e.to_string()),
    }
}

fn split<T, E>(r: Result<T, E>) -> (Option<T>, Option<E>) {
    match r {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e)),
    }
}

/// A URL as safe to show: credentials in it (`https://user:secret@host/`) are masked.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end + 3 => {
            let path_start = url[scheme_end + 3..]
                .find('/')
                .map(|p| p + scheme_end + 3)
                .unwrap_or(url.len());
            if at < path_start {
                return format!("{}********{}", &url[..scheme_end + 3], &url[at..]);
            }
            url.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_credentials() {
        use super::redact_url;
        assert_eq!(
            redact_url("https://api.example/v1"),
            "https://api.example/v1"
        );
        assert_eq!(
            redact_url("https://bob:s3cret@api.example/v1"),
            "https://********@api.example/v1"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:8080/v1/models@x"),
            "http://127.0.0.1:8080/v1/models@x"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    use super::*;
    use std::path::PathBuf;

    #[test]
    fn file_status_reports_checksum_then_reuses_it() {
        let dir = std::env::temp_dir().join(format!("ai_arch_status_{}", std::process::id()));
        std::fs::create_dir_all(dir.join("extension")).unwrap();
        std::fs::write(dir.join("extension/m.bin"), b"abc").unwrap();
        let lib = PathBuf::from("/nowhere");
        let dirs = Dirs {
            libdir: &lib,
            sharedir: &dir,
        };
        let s = file_status(
            "ai_architect.model_path",
            "$sharedir/extension/m.bin",
            &dirs,
        );
        assert!(s.exists && s.error.is_none(), "{s:?}");
        assert_eq!(s.size_bytes, Some(3));
        assert_eq!(
            s.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        // a changed file is hashed again, not served from the cache
        std::fs::write(dir.join("extension/m.bin"), b"abcd").unwrap();
        let s2 = file_status(
            "ai_architect.model_path",
            "$sharedir/extension/m.bin",
            &dirs,
        );
        assert_eq!(s2.size_bytes, Some(4));
        assert_ne!(s2.sha256, s.sha256);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_files_are_diagnosed_not_fatal() {
        let lib = PathBuf::from("/nowhere/lib");
        let share = PathBuf::from("/nowhere/share");
        let dirs = Dirs {
            libdir: &lib,
            sharedir: &share,
        };
        let s = file_status("ai_architect.tokenizer_path", "$sharedir/t.json", &dirs);
        assert!(!s.exists);
        assert_eq!(s.path.as_deref(), Some("/nowhere/share/t.json"));
        let err = s.error.unwrap();
        assert!(
            err.contains("ai_architect.tokenizer_path") && err.contains("/nowhere/share/t.json"),
            "{err}"
        );
        let r = runtime_status(
            "ai_architect.onnxruntime_path",
            "$libdir/libonnxruntime.so",
            &dirs,
        );
        assert!(!r.loads && r.version.is_none());
        assert!(r.error.unwrap().contains("/nowhere/lib/libonnxruntime.so"));
        assert!(r.hint.is_some());
    }
}
