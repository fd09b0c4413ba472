//! The model directory `arc train` writes and `arc predict` reads:
//!
//! - `spec.yaml`: the spec, as given;
//! - `model.safetensors`: the weights, named `node.weight`, `node.bias`...;
//! - `processors.json`: the pipeline's fitted vars and states;
//! - `history.json`: one record per epoch.
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
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| Error::ModelDir { path: WEIGHTS_FILE.into(), message: e.to_string() })?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(Error::ModelDir { path: WEIGHTS_FILE.into(), message: format!("`{name}` is not f32") });
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
        write(HISTORY_FILE, json(history)?.as_bytes())
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
    let spec_text = String::from_utf8(read(SPEC_FILE)?).map_err(|e| dir_error(&dir.join(SPEC_FILE), e))?;
    let weights = weights_from_safetensors(&read(WEIGHTS_FILE)?)?;
    let fitted =
        serde_json::from_slice(&read(PROCESSORS_FILE)?).map_err(|e| dir_error(&dir.join(PROCESSORS_FILE), e))?;
    Ok(Loaded { spec_text, weights, fitted })
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
}
