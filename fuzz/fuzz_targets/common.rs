//! What the targets share: the shipped iris example, a model trained on it once per
//! process, and a scratch folder per process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The workspace root (the fuzz crate's parent).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("fuzz/ is inside the workspace").to_path_buf()
}

/// The iris spec's text.
pub fn iris_spec() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| std::fs::read_to_string(root().join("examples/specs/iris.yaml")).expect("the iris spec"))
}

/// A scratch folder of this process.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // A budget that libFuzzer's 2 GiB malloc limit allows: a spec asking more is an error.
        // SAFETY: set once, before any other thread of this process reads the environment.
        unsafe { std::env::set_var("ARC_MEMORY_BUDGET_MB", "1024") };
        let dir = std::env::temp_dir().join(format!("arc-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        dir
    })
}

/// A model directory trained on iris (5 epochs), made once per process.
pub fn trained_model() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch().join("iris-model");
        let spec = root().join("examples/specs/iris.yaml");
        let text = iris_spec().replace("epochs: 100", "epochs: 5");
        let path = scratch().join("iris.yaml");
        std::fs::write(&path, text).expect("spec written");
        let _ = spec;
        let data = root().join("examples/data/iris.csv");
        arc::train::train_to_dir(&path, &data.display().to_string(), &dir, arc::get_plugin_manager())
            .expect("iris trains");
        dir
    })
}
