//! The model directory `arc train` writes and `arc predict` reads:
//!
//! - `spec.yaml`: the spec, as given;
//! - `model.safetensors`: the weights, named `node.weight`, `node.bias`...;
//! - `processors.json`: the pipeline's fitted vars and states;
//! - `history.json`: one record per epoch;
//! - `metrics.json`: the final metrics (those of the record that describes
//!   the saved weights, see [`History::final_record`]);
//! - `checkpoints/epoch-NNNN/`: checkpoints, each a model directory with the
//!   trainer's state beside it (`trainer_state.json`, `optimizer.safetensors`,
//!   `best.safetensors`), what `--resume` continues from (see [`checkpoint`]).
//! - `arc.json`: the manifest, `{"format": "arc.model_dir", "format_version": 1}`.
//!
//! [`load`] checks the manifest first: a directory without one predates it
//! and is read as version 1 (the layout has not changed since); another
//! format or a newer version is an [`Error::ModelDir`] naming the file and
//! both versions.
//!
//! [`save`] writes into a temporary sibling directory and renames it into
//! place, so a directory is never left half-written or half-overwritten.
//! Loading needs only the spec, the weights and the processors.

use std::path::{Path, PathBuf};

use crate::process::FittedState;
pub mod checkpoint;
mod history;

use crate::{Error, Result, Tensor};
pub use history::{EpochRecord, History};

/// The spec file's name.
pub const SPEC_FILE: &str = "spec.yaml";
/// The weights file's name.
pub use crate::graph::WEIGHTS_FILE;
/// The fitted processors' file name.
pub const PROCESSORS_FILE: &str = "processors.json";
/// The history file's name.
pub const HISTORY_FILE: &str = "history.json";
/// The final metrics' file name.
pub const METRICS_FILE: &str = "metrics.json";
/// The folder of checkpoints inside a model directory.
pub const CHECKPOINTS_DIR: &str = "checkpoints";

/// Where the checkpoint of `epoch` goes under the model directory `dir`:
/// `dir/checkpoints/epoch-0005`.
///
/// ```
/// use std::path::Path;
/// assert_eq!(
///     arc_core::model_dir::checkpoint_dir(Path::new("out"), 5),
///     Path::new("out/checkpoints/epoch-0005")
/// );
/// ```
pub fn checkpoint_dir(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(CHECKPOINTS_DIR).join(format!("epoch-{epoch:04}"))
}

/// The final metrics as JSON: the epoch, the split they were measured on,
/// the losses and the metrics (`None` for a history without records).
pub fn final_metrics(history: &History) -> Option<serde_json::Value> {
    let record = history.final_record()?;
    Some(serde_json::json!({
        "epoch": record.epoch,
        "split": if record.val_loss.is_some() { "validation" } else { "training" },
        "train_loss": record.train_loss,
        "val_loss": record.val_loss,
        "metrics": record.metrics,
    }))
}
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
    let mut seen = std::collections::BTreeSet::new();
    for (name, t) in weights {
        if !seen.insert(name.as_str()) {
            return Err(Error::ModelDir { path: WEIGHTS_FILE.into(), message: format!("`{name}` is given twice") });
        }
        let (dtype, bytes): (_, Vec<u8>) = match t.dtype() {
            crate::DType::I64 => {
                (safetensors::Dtype::I64, t.to_vec_i64()?.iter().flat_map(|v| v.to_le_bytes()).collect())
            }
            _ => (safetensors::Dtype::F32, t.to_vec()?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        };
        data.push((name.clone(), dtype, t.shape().to_vec(), bytes));
    }
    let views = data
        .iter()
        .map(|(n, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::ModelDir { path: n.clone(), message: e.to_string() })
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::tensor::serialize(views, None)
        .map_err(|e| Error::ModelDir { path: WEIGHTS_FILE.into(), message: e.to_string() })
}

/// Decodes safetensors bytes into named tensors (in file order): F32, and
/// I64 for integer buffers such as `num_batches_tracked`.
pub fn weights_from_safetensors(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::ModelDir {
        path: WEIGHTS_FILE.into(),
        message: format!("not a valid safetensors file: {e}"),
    })?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        let tensor = match view.dtype() {
            safetensors::Dtype::F32 => {
                let values = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                Tensor::from_vec(values.collect(), view.shape())?
            }
            safetensors::Dtype::I64 => {
                let values = view.data().chunks_exact(8).map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    i64::from_le_bytes(b)
                });
                Tensor::from_vec_i64(values.collect(), view.shape())?
            }
            other => {
                let message = format!("`{name}` is {other:?}, not F32 (or I64 for a buffer)");
                return Err(Error::ModelDir { path: WEIGHTS_FILE.into(), message });
            }
        };
        out.push((name.clone(), tensor));
    }
    Ok(out)
}

/// Writes a model directory at `dir` (replacing a model directory that is
/// there) from the spec text, the named weights, the fitted state and the
/// history. The replaced directory's `checkpoints/` folder moves into the
/// new one. Anything else at `dir` — a file, or a non-empty directory Arc
/// did not write (no `arc.json`, nor the `spec.yaml` and
/// `model.safetensors` of a directory from before the manifest, nor only
/// the run's `checkpoints/`) — is left as it is, and the save is an error
/// naming it.
pub fn save(
    dir: &Path,
    spec_text: &str,
    weights: &[(String, Tensor)],
    fitted: &FittedState,
    history: &History,
) -> Result<()> {
    save_with(dir, spec_text, weights, fitted, history, &SaveOptions::default())
}

/// How [`save_with`] writes: whether it may replace a directory Arc did not
/// write (`--force`; never a file), and extra files (a checkpoint's trainer
/// state) written beside the model's.
#[derive(Clone, Debug, Default)]
pub struct SaveOptions {
    /// Replace a directory that holds files Arc did not write, whole.
    pub force: bool,
    /// More files to write into the directory, by name.
    pub extra: Vec<(&'static str, Vec<u8>)>,
}

/// [`save`] with [`SaveOptions`].
pub fn save_with(
    dir: &Path,
    spec_text: &str,
    weights: &[(String, Tensor)],
    fitted: &FittedState,
    history: &History,
    options: &SaveOptions,
) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    check_out_dir(dir, options.force)?;
    std::fs::create_dir_all(&parent).map_err(|e| dir_error(&parent, e))?;
    let name = dir.file_name().ok_or_else(|| dir_error(dir, "not a directory name"))?.to_string_lossy().into_owned();
    // A fresh name: an earlier process of the same PID (a container's) may have left one,
    // possibly holding the only copy of a killed swap's checkpoints; it is never removed here.
    let tmp = unused_sibling(&parent, &name, "tmp");
    std::fs::create_dir(&tmp).map_err(|e| dir_error(&tmp, e))?;
    let write =
        |file: &str, bytes: &[u8]| std::fs::write(tmp.join(file), bytes).map_err(|e| dir_error(&tmp.join(file), e));
    let json = |v: &dyn erased::Json| v.to_json().map_err(|e| dir_error(&tmp, e));
    let result = (|| {
        write(SPEC_FILE, spec_text.as_bytes())?;
        write(WEIGHTS_FILE, &weights_to_safetensors(weights)?)?;
        write(PROCESSORS_FILE, json(fitted)?.as_bytes())?;
        write(HISTORY_FILE, json(history)?.as_bytes())?;
        if let Some(metrics) = final_metrics(history) {
            write(METRICS_FILE, json(&metrics)?.as_bytes())?;
        }
        for (name, bytes) in &options.extra {
            write(name, bytes)?;
        }
        crash_point("ARC_TEST_ABORT_MID_SAVE");
        write(MANIFEST_FILE, manifest_json().as_bytes())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        let old = unused_sibling(&parent, &name, "old");
        let checkpoints = dir.join(CHECKPOINTS_DIR);
        let kept = checkpoints.is_dir() && std::fs::rename(&checkpoints, tmp.join(CHECKPOINTS_DIR)).is_ok();
        let undo = |e: std::io::Error| {
            // The temporary is removed only once the earlier checkpoints are back in place:
            // if they cannot be moved back, they stay in it, named by its path.
            let restored = !kept || std::fs::rename(tmp.join(CHECKPOINTS_DIR), &checkpoints).is_ok();
            if restored {
                let _ = std::fs::remove_dir_all(&tmp);
            }
            dir_error(dir, e)
        };
        std::fs::rename(dir, &old).map_err(undo)?;
        if let Err(e) = std::fs::rename(&tmp, dir) {
            let _ = std::fs::rename(&old, dir);
            return Err(undo(e));
        }
        // The replaced directory held only Arc's file names (`check_out_dir`); one of them
        // being a directory or link of the user's keeps it, as `.NAME.old-PID`, unless --force;
        // so do earlier checkpoints that could not be moved across, --force or not.
        let checkpoints_left = std::fs::symlink_metadata(old.join(CHECKPOINTS_DIR)).is_ok();
        if !checkpoints_left && (options.force || written_by_arc(&old)) {
            let _ = std::fs::remove_dir_all(&old);
        }
    } else {
        std::fs::rename(&tmp, dir).map_err(|e| dir_error(dir, e))?;
    }
    Ok(())
}

/// `.NAME.KIND-PID` beside the output, or `.NAME.KIND-PID-N` with the first `N` free when
/// that exists (nothing there is removed to make room).
fn unused_sibling(parent: &Path, name: &str, kind: &str) -> PathBuf {
    let base = format!(".{name}.{kind}-{}", std::process::id());
    std::iter::once(parent.join(&base))
        .chain((1..).map(|n| parent.join(format!("{base}-{n}"))))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("an unbounded sequence of names has a free one")
}

/// An error when [`save`] would refuse `dir`: a file, or a non-empty
/// directory without Arc's files. Callers check it before training, so a
/// run is not spent on an output path it cannot write.
pub fn check_replaceable(dir: &Path) -> Result<()> {
    check_out_dir(dir, false)
}

/// The names Arc writes at the top of a model directory (a checkpoint's
/// trainer state included).
pub const ARC_FILES: &[&str] = &[
    MANIFEST_FILE,
    SPEC_FILE,
    WEIGHTS_FILE,
    PROCESSORS_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    CHECKPOINTS_DIR,
    checkpoint::TRAINER_STATE_FILE,
    checkpoint::OPTIMIZER_FILE,
    checkpoint::BEST_WEIGHTS_FILE,
];

/// Whether [`save_with`] may write `dir`: nothing there; an empty directory
/// or one holding only a run's `checkpoints/`; a model directory holding
/// only [`ARC_FILES`]. With `force`, any directory too (replaced whole).
/// A file (or a link) is never replaced, `force` or not.
pub fn check_out_dir(dir: &Path, force: bool) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(dir) else { return Ok(()) };
    if !meta.is_dir() {
        return Err(dir_error(
            dir,
            "exists and is not a directory; never replaced, --force or not (choose another output path)",
        ));
    }
    let names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| dir_error(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let arcs = dir.join(MANIFEST_FILE).is_file() || (dir.join(SPEC_FILE).is_file() && dir.join(WEIGHTS_FILE).is_file());
    let only_checkpoints = names.iter().all(|n| n == CHECKPOINTS_DIR) && !dir.join(CHECKPOINTS_DIR).is_file();
    let mut foreign: Vec<&str> = names.iter().map(String::as_str).filter(|n| !ARC_FILES.contains(n)).collect();
    foreign.sort_unstable();
    if only_checkpoints || (arcs && foreign.is_empty()) || force {
        return Ok(());
    }
    if !arcs {
        return Err(dir_error(
            dir,
            "exists and was not written by arc; not replaced (pass --force to replace it whole, or choose another output path)",
        ));
    }
    let shown: Vec<String> = foreign.iter().take(5).map(|n| format!("`{n}`")).collect();
    let more = if foreign.len() > 5 { format!(" and {} more", foreign.len() - 5) } else { String::new() };
    Err(dir_error(
        dir,
        format!(
            "is a model directory, but {}{more} in it {} not written by arc; not replaced (pass --force to replace it \
             whole, or move {} out)",
            shown.join(", "),
            if foreign.len() == 1 { "was" } else { "were" },
            if foreign.len() == 1 { "it" } else { "them" },
        ),
    ))
}

/// Whether `dir` is a directory (not a link) holding only what Arc writes: regular files
/// named in [`ARC_FILES`] at its top, and under `checkpoints/` only `epoch-*` directories (finished or
/// hidden temporaries) that hold the same. What Arc removes on its own must pass this, so a
/// directory the user made, or put a file into, is never deleted without `--force`.
pub fn written_by_arc(dir: &Path) -> bool {
    let is_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    let is_file = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    is_dir(dir)
        && entries.filter_map(|e| e.ok()).all(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name != CHECKPOINTS_DIR {
                return ARC_FILES.contains(&name.as_str()) && is_file(&path);
            }
            let Ok(checkpoints) = std::fs::read_dir(&path) else { return false };
            checkpoints.filter_map(|c| c.ok()).all(|c| {
                let epoch = c.file_name().to_string_lossy().into_owned();
                (epoch.starts_with("epoch-") || epoch.starts_with(".epoch-")) && written_by_arc(&c.path())
            })
        })
}

/// Removes what killed runs left beside `dir` and in its `checkpoints/`:
/// the temporary `.NAME.tmp-PID` and `.NAME.old-PID` directories of
/// processes that are gone (read from `/proc`; where there is none, nothing
/// is removed) and that hold only Arc's files ([`written_by_arc`]) and no
/// `checkpoints/` (a swap killed midway may have left the only copy there).
/// Returns the paths removed.
pub fn clean_stale(dir: &Path) -> Vec<PathBuf> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut removed = Vec::new();
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut sweep = |folder: &Path, owned: &dyn Fn(&str) -> bool| {
        let Ok(entries) = std::fs::read_dir(folder) else { return };
        for entry in entries.filter_map(|e| e.ok()) {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = stale_pid(&file) else { continue };
            let path = entry.path();
            // One holding `checkpoints/` may be the only copy of a killed swap's checkpoints.
            let checkpoints = std::fs::symlink_metadata(path.join(CHECKPOINTS_DIR)).is_ok();
            if owned(&file)
                && !process_alive(pid)
                && !checkpoints
                && written_by_arc(&path)
                && std::fs::remove_dir_all(&path).is_ok()
            {
                removed.push(path);
            }
        }
    };
    sweep(&parent, &|file: &str| file.starts_with(&format!(".{name}.")));
    sweep(&dir.join(CHECKPOINTS_DIR), &|file: &str| file.starts_with(".epoch-"));
    removed
}

/// The PID of a `.X.tmp-PID` or `.X.old-PID` name.
fn stale_pid(file: &str) -> Option<u32> {
    let (_, pid) = file.rsplit_once(".tmp-").or_else(|| file.rsplit_once(".old-"))?;
    file.starts_with('.').then_some(())?;
    pid.parse().ok()
}

/// Whether process `pid` runs (true where `/proc` cannot tell).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// For the crash tests: ends the process on the spot (as SIGKILL would) when the
/// variable `name` is set, at a moment a test wants to be deterministic.
pub(crate) fn crash_point(name: &str) {
    if std::env::var_os(name).is_some() {
        std::process::abort();
    }
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
    if !dir.is_dir() {
        return Err(dir_error(dir, "no such directory"));
    }
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

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("arc-model-dir-{name}-{}", std::process::id()))
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        std::fs::read_dir(dir.parent().expect("a parent"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&format!(".{name}.")))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn stale_temporaries_are_removed_only_when_they_hold_nothing_but_arcs_files() -> Result<()> {
        let root = temp("stale");
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("model");
        let w = vec![("w".to_owned(), Tensor::from_vec(vec![1.0], &[1])?)];
        save(&checkpoint_dir(&dir, 1), "model_name: a", &w, &FittedState::default(), &History::default())?;
        save(&dir, "model_name: a", &w, &FittedState::default(), &History::default())?;
        assert!(written_by_arc(&dir), "a model directory with a checkpoint is Arc's");
        // PID 4194304 is above Linux's largest: that process is gone.
        let arcs = root.join(".model.tmp-4194304");
        save(&arcs, "model_name: a", &w, &FittedState::default(), &History::default())?;
        let user = root.join(".model.old-4194304");
        std::fs::create_dir_all(user.join("checkpoints/epoch-0001")).expect("dir");
        std::fs::write(user.join("checkpoints/epoch-0001/notes.txt"), "mine").expect("write");
        let linked = root.join(".model.tmp-4194305");
        std::fs::create_dir_all(&linked).expect("dir");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&root, linked.join(SPEC_FILE)).expect("a link");
        assert!(!written_by_arc(&user) && !written_by_arc(&root.join("missing")));
        #[cfg(unix)]
        assert!(!written_by_arc(&linked), "a link is not a file Arc wrote");
        // A killed swap's temporary with the run's checkpoints moved in: perhaps their only copy.
        let swapped = root.join(".model.tmp-4194306");
        save(&checkpoint_dir(&swapped, 1), "model_name: a", &w, &FittedState::default(), &History::default())?;
        save(&swapped, "model_name: a", &w, &FittedState::default(), &History::default())?;
        assert!(written_by_arc(&swapped));
        let removed = clean_stale(&dir);
        assert_eq!(removed, vec![arcs.clone()]);
        assert!(!arcs.exists() && dir.join(SPEC_FILE).is_file());
        assert!(checkpoint_dir(&swapped, 1).join(WEIGHTS_FILE).is_file(), "checkpoints are never swept");
        // This process's own leftover names are left alone too: a save picks a free name.
        let own = root.join(format!(".model.tmp-{}", std::process::id()));
        save(&checkpoint_dir(&own, 1), "model_name: a", &w, &FittedState::default(), &History::default())?;
        save(&dir, "model_name: b", &w, &FittedState::default(), &History::default())?;
        assert!(checkpoint_dir(&own, 1).join(WEIGHTS_FILE).is_file());
        assert_eq!(std::fs::read_to_string(dir.join(SPEC_FILE)).ok().as_deref(), Some("model_name: b"));
        assert!(checkpoint_dir(&dir, 1).join(WEIGHTS_FILE).is_file(), "the run's checkpoints moved across");
        assert_eq!(
            std::fs::read_to_string(user.join("checkpoints/epoch-0001/notes.txt")).ok().as_deref(),
            Some("mine")
        );
        let _ = std::fs::remove_dir_all(&root);
        Ok(())
    }

    #[test]
    fn a_failed_save_leaves_the_old_directory_and_no_temporary() -> Result<()> {
        let dir = temp("failed");
        let good = vec![("w".to_owned(), Tensor::from_vec(vec![1.0], &[1])?)];
        save(&dir, "model_name: a", &good, &FittedState::default(), &History::default())?;
        // A name given twice cannot be written: the save fails after
        // spec.yaml was written into the temporary directory.
        let bad = vec![("w".to_owned(), Tensor::from_vec(vec![1.0], &[1])?), ("w".to_owned(), Tensor::zeros(&[1]))];
        assert!(save(&dir, "model_name: b", &bad, &FittedState::default(), &History::default()).is_err());
        assert_eq!(std::fs::read_to_string(dir.join(SPEC_FILE)).ok().as_deref(), Some("model_name: a"));
        assert_eq!(leftovers(&dir), Vec::<String>::new());
        assert!(!dir.join(METRICS_FILE).exists(), "no records, no metrics.json");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn a_directory_or_file_arc_did_not_write_is_never_replaced() -> Result<()> {
        let w = vec![("w".to_owned(), Tensor::from_vec(vec![1.0], &[1])?)];
        let save_to = |dir: &Path| save(dir, "model_name: a", &w, &FittedState::default(), &History::default());
        // A user's directory: refused, its file untouched.
        let dir = temp("foreign");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("notes.txt"), "mine").expect("write");
        let err = save_to(&dir).unwrap_err().to_string();
        assert!(err.contains("was not written by arc; not replaced"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).ok().as_deref(), Some("mine"));
        assert_eq!(leftovers(&dir), Vec::<String>::new());
        // A user's file at the path: refused, untouched.
        let file = temp("file");
        std::fs::write(&file, "mine").expect("write");
        assert!(save_to(&file).unwrap_err().to_string().contains("is not a directory"));
        assert_eq!(std::fs::read_to_string(&file).ok().as_deref(), Some("mine"));
        // Arc's file names, one of them a directory of the user's: saved over, and the
        // replaced directory is kept beside it with the user's file, not deleted.
        let odd = temp("odd");
        save_to(&odd)?;
        std::fs::remove_file(odd.join(HISTORY_FILE)).expect("remove");
        std::fs::create_dir(odd.join(HISTORY_FILE)).expect("dir");
        std::fs::write(odd.join(HISTORY_FILE).join("mine.txt"), "mine").expect("write");
        save_to(&odd)?;
        assert!(odd.join(HISTORY_FILE).is_file());
        let kept =
            odd.with_file_name(format!(".{}.old-{}", odd.file_name().unwrap().to_string_lossy(), std::process::id()));
        assert_eq!(std::fs::read_to_string(kept.join(HISTORY_FILE).join("mine.txt")).ok().as_deref(), Some("mine"));
        let _ = std::fs::remove_dir_all(&kept);
        let _ = std::fs::remove_dir_all(&odd);
        // An empty directory, and Arc's own directory, are replaced.
        let empty = temp("empty");
        std::fs::create_dir_all(&empty).expect("dir");
        save_to(&empty)?;
        save_to(&empty)?;
        assert!(empty.join(MANIFEST_FILE).is_file());
        for path in [&dir, &empty] {
            let _ = std::fs::remove_dir_all(path);
        }
        let _ = std::fs::remove_file(&file);
        Ok(())
    }

    #[test]
    fn saving_over_a_directory_keeps_its_checkpoints_and_writes_metrics() -> Result<()> {
        let dir = temp("checkpoints");
        let w = vec![("w".to_owned(), Tensor::from_vec(vec![1.0], &[1])?)];
        let fitted = FittedState::default();
        save(&checkpoint_dir(&dir, 2), "model_name: a", &w, &fitted, &History::default())?;
        let record = |epoch, loss| EpochRecord {
            epoch,
            train_loss: loss,
            val_loss: Some(loss + 1.0),
            metrics: [("accuracy".to_owned(), 0.5)].into(),
        };
        let history = History {
            epochs: vec![record(1, 0.25), record(2, 0.5)],
            best_epoch: Some(1),
            restored_best: true,
            ..History::default()
        };
        save(&dir, "model_name: a", &w, &fitted, &history)?;
        assert!(load(&checkpoint_dir(&dir, 2)).is_ok(), "the checkpoint survived and loads");
        let metrics: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(METRICS_FILE)).map_err(|e| dir_error(&dir, e))?)
                .map_err(|e| dir_error(&dir, e))?;
        // The restored best epoch's record, not the last one.
        assert_eq!(
            metrics,
            serde_json::json!({"epoch": 1, "split": "validation", "train_loss": 0.25, "val_loss": 1.25,
                               "metrics": {"accuracy": 0.5}})
        );
        assert_eq!(leftovers(&dir), Vec::<String>::new());
        let _ = std::fs::remove_dir_all(&dir);
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
