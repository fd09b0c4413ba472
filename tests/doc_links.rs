//! Every relative link in the README and in `docs/` resolves inside the
//! repository: the file (or folder) exists, and a `#anchor` names a heading of
//! the Markdown file it points into (GitHub's heading slugs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The pages checked: the README, every `docs/*.md`, and the data sets' README.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md"), root().join("examples/data/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The text outside fenced code blocks and inline code spans, line by line
/// (code is blanked, so line numbers stay right).
fn prose(text: &str) -> Vec<String> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(marker) = fence {
            if trimmed.starts_with(marker) {
                fence = None;
            }
            lines.push(String::new());
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
            lines.push(String::new());
            continue;
        }
        // Blank inline code spans (a run of backticks up to the same run).
        let mut out = String::new();
        let mut rest = line;
        while let Some(start) = rest.find('`') {
            out.push_str(&rest[..start]);
            let ticks = rest[start..].chars().take_while(|c| *c == '`').count();
            let after = &rest[start + ticks..];
            let closing = "`".repeat(ticks);
            match after.find(&closing) {
                Some(end) => rest = &after[end + ticks..],
                None => {
                    rest = after;
                    break;
                }
            }
            out.push(' ');
        }
        out.push_str(rest);
        lines.push(out);
    }
    lines
}

/// The targets of the inline links `[text](target)` and reference
/// definitions `[label]: target` on a line of prose.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    if let Some(rest) = line.trim_start().strip_prefix('[')
        && let Some(close) = rest.find("]: ")
    {
        targets.push(rest[close + 3..].split_whitespace().next().unwrap_or_default().to_owned());
    }
    let mut rest = line;
    while let Some(pos) = rest.find("](") {
        let after = &rest[pos + 2..];
        // Balanced parentheses inside the target, as CommonMark allows.
        let mut depth = 0usize;
        let mut end = None;
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = Some(i);
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let Some(end) = end else { break };
        let target = after[..end].split_whitespace().next().unwrap_or_default();
        targets.push(target.trim_start_matches('<').trim_end_matches('>').to_owned());
        rest = &after[end..];
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-`
/// and `_` dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (duplicates numbered `-1`, `-2`, as GitHub does).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut fence = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = !fence;
            continue;
        }
        if fence || !trimmed.starts_with('#') {
            continue;
        }
        let heading = trimmed.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// What is wrong with `target`, a link in `page`, if anything.
fn check(page: &Path, target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("an empty link".to_owned());
    }
    if target.contains("://") || target.starts_with("mailto:") {
        return None; // not a relative link
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = if path.is_empty() { page.to_path_buf() } else { page.parent().expect("a page's folder").join(path) };
    let Ok(resolved) = file.canonicalize() else {
        return Some(format!("`{path}` does not exist"));
    };
    let repo = root().canonicalize().expect("the repository root");
    if !resolved.starts_with(&repo) {
        return Some(format!("`{path}` is outside the repository (a clone would not have it)"));
    }
    let anchor = anchor?;
    if resolved.extension().is_none_or(|e| e != "md") {
        return None; // a line anchor into source (#L10) is not checked
    }
    let text = std::fs::read_to_string(&resolved).ok()?;
    if anchors(&text).contains(anchor) {
        None
    } else {
        Some(format!(
            "`{}` has no heading with the anchor `#{anchor}`",
            resolved.strip_prefix(&repo).unwrap_or(&resolved).display()
        ))
    }
}

#[test]
fn every_relative_link_resolves_inside_the_repository() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        for (n, line) in prose(&text).iter().enumerate() {
            for target in link_targets(line) {
                checked += 1;
                if let Some(problem) = check(&page, &target) {
                    let shown = page.strip_prefix(root()).unwrap_or(&page).display().to_string();
                    broken.push(format!("{shown}:{}: ({target}): {problem}", n + 1));
                }
            }
        }
    }
    assert!(checked > 30, "only {checked} links found: the link parser is broken");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_checker_catches_what_it_should() {
    let readme = root().join("README.md");
    assert_eq!(check(&readme, "docs/SPEC.md"), None);
    assert_eq!(check(&readme, "docs/SPEC.md#trainer"), None);
    assert_eq!(check(&readme, "#get-started"), None);
    assert!(check(&readme, "docs/NOPE.md").is_some());
    assert!(check(&readme, "docs/SPEC.md#no-such-heading").is_some());
    assert!(check(&readme, "#no-such-heading").is_some());
    assert!(check(&readme, "../shared/DESIGN.md").is_some(), "a path outside the repository is refused");
    assert_eq!(check(&readme, "https://example.invalid/x"), None);
    assert_eq!(slug("Checkpoints and `--resume`"), "checkpoints-and---resume");
    assert_eq!(slug("The original schema's terms"), "the-original-schemas-terms");
    assert_eq!(link_targets("see [a](docs/A.md) and [b](x.md#y) [c]: z.md"), ["docs/A.md", "x.md#y"]);
    assert_eq!(link_targets("[c]: z.md"), ["z.md"]);
    assert_eq!(prose("a `[x](nope)` b\n```\n[y](nope)\n```\n[z](ok)"), ["a   b", "", "", "", "[z](ok)"]);
}
