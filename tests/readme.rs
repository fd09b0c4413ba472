//! The README's walkthrough runs as written: each `sh` block that follows a
//! `<!-- tests/readme.rs runs ... -->` comment is run line by line, in README
//! order, in one scratch directory that looks like the repository's root
//! (`examples/` linked in), with this build's `arc` first on `PATH`. Every
//! command must succeed, and the `text` block after a `sh` block is the
//! output the reader is promised: its lines must appear in the commands'
//! output, in order, with numbers masked (timings and float digits vary by
//! machine) and `...` lines skipping any number of lines.
//!
//! `cargo run --example make_iris_db [PATH]` is run in-process (the example's
//! own `build`), since a test cannot run cargo.
#![cfg(all(feature = "builtins", feature = "sqlite"))]

use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(dead_code)] // the example's `main` and `iris_csv` are not used here
#[path = "../examples/make_iris_db.rs"]
mod make_iris_db;

const MARKER: &str = "<!-- tests/readme.rs runs";

/// A marked `sh` block: its commands and the output shown after it, if any.
#[derive(Debug, PartialEq)]
struct Block {
    line: usize,
    commands: Vec<String>,
    expected: Option<Vec<String>>,
}

/// The fenced block starting at `lines[start]` (which must open with ```` ```lang ````): its
/// lines and the index after its closing fence.
fn fenced(lines: &[&str], start: usize, lang: &str) -> Option<(Vec<String>, usize)> {
    if lines.get(start)?.trim() != format!("```{lang}") {
        return None;
    }
    let end = (start + 1..lines.len()).find(|&i| lines[i].trim() == "```")?;
    Some((lines[start + 1..end].iter().map(|l| l.to_string()).collect(), end + 1))
}

/// The marked blocks of a README's text.
fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let skip_blank = |mut i: usize| {
        while lines.get(i).is_some_and(|l| l.trim().is_empty()) {
            i += 1;
        }
        i
    };
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.trim_start().starts_with(MARKER) {
            continue;
        }
        let Some((commands, after)) = fenced(&lines, skip_blank(i + 1), "sh") else {
            panic!("README.md:{}: the marker is not followed by a ```sh block", i + 1);
        };
        let expected = fenced(&lines, skip_blank(after), "text").map(|(lines, _)| lines);
        let commands = commands.into_iter().filter(|c| !c.trim().is_empty()).collect();
        found.push(Block { line: i + 1, commands, expected });
    }
    found
}

/// A line with every number (a run of digits, with `.`, and `e-`/`e+` exponents) as `#`
/// and runs of spaces as one.
fn masked(line: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.'
                    || ((chars[i] == 'e' || chars[i] == 'E')
                        && chars.get(i + 1).is_some_and(|c| *c == '-' || *c == '+' || c.is_ascii_digit()))
                    || ((chars[i] == '-' || chars[i] == '+') && i > 0 && (chars[i - 1] == 'e' || chars[i - 1] == 'E')))
            {
                i += 1;
            }
            out.push('#');
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first expected line (masked) that is not found in `output`, in order.
fn first_missing(expected: &[String], output: &str) -> Option<String> {
    let actual: Vec<String> = output.lines().map(masked).collect();
    let mut at = 0;
    for line in expected.iter().filter(|l| l.trim() != "...") {
        let want = masked(line);
        match actual[at..].iter().position(|a| *a == want) {
            Some(found) => at += found + 1,
            None => return Some(line.clone()),
        }
    }
    None
}

/// Runs one README command in `dir`: its output (stdout and stderr, interleaved).
fn run(command: &str, dir: &Path) -> String {
    if let Some(rest) = command.strip_prefix("cargo run --example make_iris_db") {
        let db = rest.trim().strip_prefix("--").map(str::trim).filter(|p| !p.is_empty()).unwrap_or("target/iris.db");
        let rows = make_iris_db::build(&make_iris_db::iris_csv(), &dir.join(db))
            .unwrap_or_else(|e| panic!("`{command}`: {e}"));
        return make_iris_db::summary(rows, Path::new(db)) + "\n";
    }
    assert!(!command.starts_with("cargo "), "`{command}`: the test runs `arc` and shell tools, not cargo");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_arc"));
    let path = format!(
        "{}:{}",
        bin.parent().expect("the binary's folder").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1\n{command}"))
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("ARC_MEMORY_BUDGET_MB")
        .output()
        .expect("sh runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "`{command}` failed ({}):\n{text}", out.status);
    text
}

#[test]
fn the_readme_walkthrough_runs_and_prints_what_it_shows() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let blocks = blocks(&readme);
    assert!(blocks.len() >= 4, "the README's marked blocks are gone: {blocks:?}");
    assert!(
        blocks.iter().flat_map(|b| &b.commands).any(|c| c.starts_with("arc train ")),
        "the walkthrough trains nothing"
    );

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("target")).expect("scratch directory");
    std::os::unix::fs::symlink(root.join("examples"), dir.join("examples")).expect("link examples/");

    for block in &blocks {
        let mut output = String::new();
        for command in &block.commands {
            output += &run(command, &dir);
        }
        if let Some(expected) = &block.expected
            && let Some(missing) = first_missing(expected, &output)
        {
            panic!(
                "README.md:{}: the output shown is not what the commands print; this line is missing \
                 (numbers masked):\n  {missing}\nThe commands printed:\n{output}",
                block.line
            );
        }
    }
    // What the walkthrough says it writes.
    assert!(dir.join("models/iris/model.safetensors").is_file(), "arc train wrote no models/iris");
    assert!(dir.join("iris.onnx").is_file(), "arc export wrote no iris.onnx");
    assert!(dir.join("target/predictions.db").is_file(), "the SQLite write-back wrote nothing");
    std::fs::remove_dir_all(&dir).expect("remove the scratch directory");
}

#[test]
fn the_checks_can_fail() {
    let text = "intro\n<!-- tests/readme.rs runs this -->\n```sh\narc a\n\narc b\n```\n\n```text\nx 1.5\n...\ny\n```\n";
    assert_eq!(
        blocks(text),
        [Block {
            line: 2,
            commands: vec!["arc a".into(), "arc b".into()],
            expected: Some(vec!["x 1.5".into(), "...".into(), "y".into()]),
        }]
    );
    assert_eq!(masked("epoch   1/100  loss 0.9389 in 0.01s"), "epoch #/# loss # in #s");
    assert_eq!(masked("p 9.5e-10,1E+3 iris-sql epoch-0005"), "p #,# iris-sql epoch-#");
    let expected: Vec<String> = ["a 1", "...", "c 3"].map(String::from).to_vec();
    assert_eq!(first_missing(&expected, "a 7\nb\nc 9.25\n"), None);
    assert_eq!(first_missing(&expected, "c 3\na 1\n"), Some("c 3".to_owned()), "order matters");
    assert_eq!(first_missing(&expected, "a 1\nd 3\n"), Some("c 3".to_owned()));
}
