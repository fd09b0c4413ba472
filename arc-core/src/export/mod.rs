//! Exporters: plugins that write a trained model in some format.
//!
//! An exporter receives an [`ExportModel`] — a model directory read back
//! and checked against its spec: the nodes in execution order with their
//! resolved params and inputs, the weights and buffers under PyTorch's
//! `state_dict` names, the fitted processor state and the input shapes —
//! and writes one file. [`write_atomic`] writes it through a temporary
//! sibling and a rename, so a failed export never leaves a half-written file.

mod model;

use std::path::Path;

use crate::{Error, Result};

pub use model::{ExportInput, ExportModel, ExportNode, ExportOutput, ExportStep};

/// Writes a model in one format, registered by `ExportHookSpec::register_exporters`.
pub trait Exporter: Send + Sync {
    /// The file extension the format uses, e.g. `safetensors`.
    fn extension(&self) -> &str;

    /// Writes `model` to `out`. Implementations write to a temporary file
    /// and rename it (see [`write_atomic`]), so nothing the user had is
    /// left half-written.
    fn export(&self, model: &ExportModel, out: &Path) -> Result<()>;
}

/// Writes `bytes` to `out` through a temporary sibling file and a rename;
/// on failure the temporary file is removed and `out` is untouched.
///
/// ```
/// let out = std::env::temp_dir().join(format!("arc-write-atomic-doc-{}.bin", std::process::id()));
/// arc_core::export::write_atomic(&out, "test", b"abc")?;
/// assert_eq!(std::fs::read(&out).unwrap(), b"abc");
/// # std::fs::remove_file(&out).unwrap();
/// # Ok::<(), arc_core::Error>(())
/// ```
pub fn write_atomic(out: &Path, format: &str, bytes: &[u8]) -> Result<()> {
    let fail = |path: &Path, e: std::io::Error| Error::Export {
        format: format.to_owned(),
        message: format!("cannot write `{}`: {e}", path.display()),
    };
    let name = out.file_name().ok_or_else(|| Error::Export {
        format: format.to_owned(),
        message: format!("`{}` is not a file name", out.display()),
    })?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| fail(&parent, e))?;
    let tmp = parent.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(&tmp, e));
    }
    std::fs::rename(&tmp, out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(out, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("arc-export-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.join("sub").join("m.bin");
        write_atomic(&out, "test", b"one").expect("first write");
        write_atomic(&out, "test", b"two").expect("second write");
        assert_eq!(std::fs::read(&out).expect("read"), b"two");
        let names: Vec<_> =
            std::fs::read_dir(dir.join("sub")).expect("ls").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, ["m.bin"]);
        // A directory where the file should go: an export error naming the path.
        let err = write_atomic(&dir.join("sub"), "test", b"x").unwrap_err();
        assert!(matches!(err, Error::Export { .. }) && err.to_string().contains("sub"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
