//! The model directory `arc train` writes and `arc predict` reads:
//!
//! - `spec.yaml`: the spec, as given;
//! - `model.safetensors`: the weights, named `node.weight`, `node.bias`...;
//! - `processors.json`: the pipeline's fitted vars and states;
//! - `history.json`: one record per epoch;
//! - `arc.json`: the manifest, `{"format": "arc.model_dir", "format_version": 1}`.
//!
//! [`load`] checks the manifest first: a directory without one predates it
//! and is read as version 1 (the layout has not changed since); another
//! format or a newer version is an [`Error::ModelDir`] naming the file and
//! both versions.
//!
//! [`save`] writes into a temporary sibling directory and renames it into
//! place, so a directory is never left half-written or half-overwritten.

use std::path::{Path, PathBuf};

use crate::process::FittedState;
use crate::train::History;
use crate::{Error, Result, Tensor};

/// The spec file's name.
pub const SPEC_FILE: &str = "spec.yaml";
/// The weights file's name.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The fitted processors' file name.
pub const PROCESSORS_FILE: &str = "processors.json";
/// The history file's name.
pub const HISTORY_FILE: &str = "history.json";
/// The manifest's file name.
pub const MANIFEST_FILE: &str = "arc.json";
/// The `format` the manifest names.
pub const FORMAT_NAME: &str = "arc.model_dir";
/// The model-directory format version [`save`] writes and the newest [`load`] reads.
pub const FORMAT_VERSION: u32 = 1;

fn dir_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::ModelDir { path: path.display().to_string(), message: message.to_string() }
}

/// Encodes named f32 tensors as safetensors bytes.
pub fn weights_to_safetensors(weights: &[(String, Tensor)]) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(weights.len());
    for (name, t) in weights {
        let bytes: Vec<u8> = t.to_vec()?.iter().flat_map(|v| v.to_le_bytes()).collect();
        data.push((name.clone(), t.shape().to_vec(), bytes));
    }
    let views = data
        .iter()
        .map(|(n, shape, bytes)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::ModelDir { path: n.clone(), message: e.to_string() })
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::tensor::serialize(views, None)
        .map_err(|e| Error::ModelDir { path: WEIGHTS_FILE.into(), message: e.to_string() })
}

/// Decodes safetensors bytes into named f32 tensors (in file order).
pub fn weights_from_safetensors(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::ModelDir {
        path: WEIGHTS_FILE.into(),
        message: format!("not a valid safetensors file: {e}"),
    })?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            let message = format!("`{name}` is {:?}, not F32", view.dtype());
            return Err(Error::ModelDir { path: WEIGHTS_FILE.into(), message });
        }
        let values = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.push((name.clone(), Tensor::from_vec(values, view.shape())?));
    }
    Ok(out)
}

/// Writes a model directory at `dir` (replacing one that is there) from
/// the spec text, the named weights, the fitted state and the history.
pub fn save(
    dir: &Path,
    spec_text: &str,
    weights: &[(String, Tensor)],
    fitted: &FittedState,
    history: &History,
) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| dir_error(&parent, e))?;
    let name = dir.file_name().ok_or_else(|| dir_error(dir, "not a directory name"))?.to_string_lossy().into_owned();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).map_err(|e| dir_error(&tmp, e))?;
    let write =
        |file: &str, bytes: &[u8]| std::fs::write(tmp.join(file), bytes).map_err(|e| dir_error(&tmp.join(file), e));
    let json = |v: &dyn erased::Json| v.to_json().map_err(|e| dir_error(&tmp, e));
    let result = (|| {
        write(SPEC_FILE, spec_text.as_bytes())?;
        write(WEIGHTS_FILE, &weights_to_safetensors(weights)?)?;
        write(PROCESSORS_FILE, json(fitted)?.as_bytes())?;
        write(HISTORY_FILE, json(history)?.as_bytes())?;
        write(MANIFEST_FILE, manifest_json().as_bytes())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old).map_err(|e| dir_error(dir, e))?;
        if let Err(e) = std::fs::rename(&tmp, dir) {
            let _ = std::fs::rename(&old, dir);
            return Err(dir_error(dir, e));
        }
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, dir).map_err(|e| dir_error(dir, e))?;
    }
    Ok(())
}

/// A model directory read back.
pub struct Loaded {
    /// The spec text.
    pub spec_text: String,
    /// The named weights.
    pub weights: Vec<(String, Tensor)>,
    /// The fitted processors.
    pub fitted: FittedState,
}

/// Reads a model directory written by [`save`].
pub fn load(dir: &Path) -> Result<Loaded> {
    let read = |file: &str| std::fs::read(dir.join(file)).map_err(|e| dir_error(&dir.join(file), e));
    check_manifest(dir)?;
    let spec_text = String::from_utf8(read(SPEC_FILE)?).map_err(|e| dir_error(&dir.join(SPEC_FILE), e))?;
    // Name the file with its directory: the decoder only knows the bytes.
    let weights = weights_from_safetensors(&read(WEIGHTS_FILE)?).map_err(|e| match e {
        Error::ModelDir { message, .. } => dir_error(&dir.join(WEIGHTS_FILE), message),
        other => other,
    })?;
    let fitted =
        serde_json::from_slice(&read(PROCESSORS_FILE)?).map_err(|e| dir_error(&dir.join(PROCESSORS_FILE), e))?;
    Ok(Loaded { spec_text, weights, fitted })
}

/// The manifest [`save`] writes.
fn manifest_json() -> String {
    format!("{{\n  \"format\": \"{FORMAT_NAME}\",\n  \"format_version\": {FORMAT_VERSION}\n}}\n")
}

/// The manifest as read: unknown keys are kept for newer writers.
#[derive(serde::Deserialize)]
struct Manifest {
    format: String,
    format_version: u32,
}

/// Reads `dir`'s manifest and returns its format version: 1 when there is
/// none (directories written before the manifest existed); an error for
/// another format, a version this build cannot read, or a malformed file.
pub fn check_manifest(dir: &Path) -> Result<u32> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.is_dir() => return Ok(1),
        Err(e) => return Err(dir_error(&path, e)),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| dir_error(&path, e))?;
    if manifest.format != FORMAT_NAME {
        return Err(dir_error(&path, format!("format `{}` is not `{FORMAT_NAME}`", manifest.format)));
    }
    match manifest.format_version {
        0 => Err(dir_error(&path, "format_version 0 does not exist (versions start at 1)")),
        v if v > FORMAT_VERSION => Err(dir_error(
            &path,
            format!("format_version {v} is newer than this build of arc reads ({FORMAT_VERSION}); upgrade arc"),
        )),
        v => Ok(v),
    }
}

mod erased {
    /// Pretty JSON of a serializable value (object-safe).
    pub trait Json {
        fn to_json(&self) -> serde_json::Result<String>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> serde_json::Result<String> {
            serde_json::to_string_pretty(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_round_trip_names_and_values() -> Result<()> {
        let w = vec![("fc.weight".to_owned(), Tensor::from_vec(vec![1.0, -2.5, 3.25, 0.0], &[2, 2])?)];
        let back = weights_from_safetensors(&weights_to_safetensors(&w)?)?;
        assert_eq!(back[0].0, "fc.weight");
        assert_eq!(back[0].1.shape(), [2, 2]);
        assert_eq!(back[0].1.to_vec()?, [1.0, -2.5, 3.25, 0.0]);
        Ok(())
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("arc-model-dir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn save_writes_the_manifest_and_load_checks_it() -> Result<()> {
        let root = scratch("manifest");
        let dir = root.join("model");
        save(&dir, "model_name: m\n", &[], &FittedState::default(), &History::default())?;
        let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).expect("manifest");
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["format"], "arc.model_dir");
        assert_eq!(value["format_version"], 1);
        assert_eq!(check_manifest(&dir)?, 1);
        assert_eq!(load(&dir)?.spec_text, "model_name: m\n");

        // No manifest: a directory from before it, read as version 1.
        std::fs::remove_file(dir.join(MANIFEST_FILE)).expect("rm");
        assert_eq!(check_manifest(&dir)?, 1);
        assert!(load(&dir).is_ok());

        let write = |text: &str| std::fs::write(dir.join(MANIFEST_FILE), text).expect("write");
        write(r#"{"format": "arc.model_dir", "format_version": 7}"#);
        let err = load(&dir).err().expect("newer version");
        let shown = err.to_string();
        assert!(matches!(err, Error::ModelDir { .. }), "{shown}");
        assert!(
            shown.contains("arc.json") && shown.contains("format_version 7") && shown.contains("reads (1)"),
            "{shown}"
        );
        write(r#"{"format": "onnx", "format_version": 1}"#);
        assert!(load(&dir).err().expect("other format").to_string().contains("format `onnx` is not `arc.model_dir`"));
        write(r#"{"format_version": 1}"#);
        assert!(load(&dir).err().expect("no format").to_string().contains("missing field `format`"));
        write(r#"{"format": "arc.model_dir", "format_version": 0}"#);
        assert!(load(&dir).err().expect("version 0").to_string().contains("format_version 0"));
        let _ = std::fs::remove_dir_all(&root);
        Ok(())
    }
}
