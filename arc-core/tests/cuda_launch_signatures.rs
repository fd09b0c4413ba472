//! Every kernel the Rust side launches exists, with as many parameters as the launch passes:
//! checked with no GPU against what NVRTC compiles (the PTX `.entry` declarations).
//!
//! A launch site is `let f = dev.func(MODULE, NAME)?;` followed by one
//! `launch_builder(&f).arg(..)….launch(..)` chain in `src/tensor/cuda/*.rs`; `NAME` is a
//! literal or `format!("prefix{..}")`, in which case every kernel of the module with that
//! prefix must take the chain's argument count. The kernel names the op layer passes through
//! `map1` / `map2` / `cuda::unary` / `cuda::binary` (`u_<k>`, `b_<k>`, `bb_<k>`) and the
//! comparisons (`bbi_<op>` for i64) must exist too. Skipped where NVRTC is missing, unless
//! `ARC_REQUIRE_NVRTC=1`.
#![cfg(feature = "cuda")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arc_core::tensor::kernel_entry_points;

mod common;

use common::nvrtc_or_skip;

type Entries = BTreeMap<String, BTreeMap<String, usize>>;

/// The compiled kernels by module, or `None` (after printing why) where NVRTC is missing.
fn entries_or_skip(test: &str) -> Option<Entries> {
    if !nvrtc_or_skip(test) {
        return None;
    }
    let modules =
        kernel_entry_points("compute_75").unwrap_or_else(|e| panic!("the built-in kernels do not compile: {e}"));
    Some(modules.into_iter().map(|(m, ks)| (m.to_owned(), ks.into_iter().collect::<BTreeMap<_, _>>())).collect())
}

fn src(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tensor").join(rel)
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The first string literal in `text` (its contents), if `text` starts with one after spaces.
fn leading_literal(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// The `n`-th (0-based) argument's string literal of every call `needle(` in `text`.
fn literal_args(text: &str, needle: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices(needle) {
        let mut rest = &text[at + needle.len()..];
        let mut ok = true;
        for _ in 0..n {
            match leading_literal(rest) {
                Some(lit) => {
                    let skip = rest.find(lit).unwrap_or(0) + lit.len() + 1;
                    rest = rest[skip..].trim_start().strip_prefix(',').unwrap_or("");
                }
                None => ok = false,
            }
        }
        if let (true, Some(lit)) = (ok, leading_literal(rest)) {
            out.push(lit.to_owned());
        }
    }
    out
}

#[test]
fn every_launch_matches_its_kernels_name_and_parameter_count() {
    let Some(entries) = entries_or_skip("every_launch_matches_its_kernels_name_and_parameter_count") else {
        return;
    };
    let mut checked = 0;
    for path in rust_files(&src("cuda")) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_owned();
        let module_const = text
            .find("const MODULE: &str = ")
            .and_then(|at| leading_literal(&text[at + "const MODULE: &str = ".len()..]))
            .map(str::to_owned);
        let sites: Vec<usize> = text.match_indices("dev.func(").map(|(at, _)| at).collect();
        for (i, &at) in sites.iter().enumerate() {
            let args = &text[at + "dev.func(".len()..];
            let (module, rest) = if let Some(rest) = args.strip_prefix("MODULE,") {
                (module_const.clone().unwrap_or_else(|| panic!("{file}: MODULE used but not defined")), rest)
            } else {
                let lit = leading_literal(args).unwrap_or_else(|| panic!("{file}: a dev.func( without a module"));
                (lit.to_owned(), &args[args.find(',').unwrap_or(0) + 1..])
            };
            let rest = rest.trim_start();
            let (name, is_prefix) = if let Some(f) = rest.strip_prefix("&format!(") {
                let lit = leading_literal(f).unwrap_or_default();
                (lit[..lit.find('{').unwrap_or(lit.len())].to_owned(), true)
            } else {
                (leading_literal(rest).unwrap_or_else(|| panic!("{file}: unreadable kernel name")).to_owned(), false)
            };
            // The launch chain that follows, before the next site.
            let end = sites.get(i + 1).copied().unwrap_or(text.len());
            let body = &text[at..end];
            let Some(start) = body.find("launch_builder(&f)") else {
                panic!("{file}: kernel `{name}` is loaded but no `launch_builder(&f)` follows before the next load")
            };
            let chain = &body[start..];
            let chain = &chain[..chain.find(".launch(").unwrap_or_else(|| panic!("{file}: `{name}`: no .launch("))];
            let args = chain.matches(".arg(").count();
            let kernels = entries.get(&module).unwrap_or_else(|| panic!("{file}: unknown module `{module}`"));
            let matching: Vec<(&String, &usize)> =
                kernels.iter().filter(|(k, _)| if is_prefix { k.starts_with(&name) } else { **k == name }).collect();
            assert!(
                !matching.is_empty(),
                "{file}: no kernel `{name}{}` in module `{module}`",
                if is_prefix { "*" } else { "" }
            );
            for (kernel, &params) in matching {
                assert_eq!(params, args, "{file}: `{kernel}` takes {params} parameters, the launch passes {args}");
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} kernels were checked: the scan missed the launch sites");
    println!("{checked} kernel launches match their kernels");
}

#[test]
fn every_kernel_the_op_layer_names_exists() {
    let Some(entries) = entries_or_skip("every_kernel_the_op_layer_names_exists") else { return };
    let elementwise = &entries["elementwise"];
    let mut wanted: Vec<String> = Vec::new();
    let ops: Vec<PathBuf> = rust_files(&src("ops")).into_iter().chain([src("ops/../cuda/elementwise.rs")]).collect();
    for path in ops {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for k in literal_args(&text, "map1(", 1).into_iter().chain(literal_args(&text, "cuda::unary(", 1)) {
            wanted.push(format!("u_{k}"));
        }
        for k in literal_args(&text, "map2(", 1).into_iter().chain(literal_args(&text, "cuda::binary(", 1)) {
            if !k.is_empty() {
                wanted.extend([format!("b_{k}"), format!("bb_{k}")]);
            }
        }
    }
    // The comparisons: `comparison!(.., name, op);` in ops/nograd.rs.
    let nograd = std::fs::read_to_string(src("ops/nograd.rs")).unwrap_or_default();
    let mut comparisons = 0;
    for line in nograd.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_suffix(");").and_then(|l| l.split(',').next())
            && ["==", "!=", "<", "<=", ">", ">="].iter().any(|op| line.ends_with(&format!(" {op});")))
        {
            comparisons += 1;
            wanted.extend([format!("b_{name}"), format!("bb_{name}"), format!("bbi_{name}")]);
        }
    }
    assert_eq!(comparisons, 6, "the scan found {comparisons} comparisons in ops/nograd.rs");
    assert!(wanted.len() > 40, "the scan found only {} kernel names", wanted.len());
    for k in &wanted {
        assert!(elementwise.contains_key(k), "the op layer launches `{k}`, which elementwise.cu does not define");
    }
}
