//! Embeds Arc in a small server: loads a model directory written by
//! `arc train`, then answers one JSON object per line on stdin with one JSON
//! line on stdout (a bad row gets an `{"error": ...}` line; the loop goes on).
//!
//! ```text
//! cargo run --release -- train examples/specs/iris.yaml --data examples/data/iris.csv --out target/iris-model
//! cargo build --release --example embed_predict --no-default-features --features layers,processors
//! echo '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}' \
//!     | target/release/examples/embed_predict target/iris-model
//! ```
//!
//! Built with only the layer and processor plugins: no data sources, no
//! SQL, no CLI.

use std::io::{BufWriter, stdin, stdout};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: embed_predict MODEL_DIR < requests.jsonl");
        return ExitCode::from(1);
    };
    let predictor = match arc::Predictor::load(&dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match arc::predictor::serve_json_lines(&predictor, stdin().lock(), BufWriter::new(stdout().lock())) {
        Ok(_) => ExitCode::SUCCESS,
        // A closed pipe on the reading side is the client's way to stop.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
