//! The documentation cannot drift from the code: every function of the installed extension is
//! in docs/reference.md and every `ai.name(...)` there is a function of the extension; every
//! relative link of README.md and docs/ leads to a file, and every `#anchor` to a heading of it.
use ai_architect_integration::{extension_functions, TestDb};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The `ai.name(` calls a text mentions.
fn calls(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("ai.") {
        let s = i + at;
        i = s + 3;
        if s > 0 && (b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_' || b[s - 1] == b'.') {
            continue;
        }
        let name: String = text[s + 3..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.is_empty() && text[s + 3 + name.len()..].starts_with('(') {
            out.insert(name);
        }
    }
    out
}

#[test]
fn the_reference_documents_exactly_the_extensions_functions() {
    let db = TestDb::new("docs_ref");
    let mut c = db.connect("postgres");
    let installed: BTreeSet<String> = extension_functions(&mut c).into_iter().collect();
    let documented = calls(&read(&root().join("docs/reference.md")));
    let missing: Vec<_> = installed.difference(&documented).collect();
    let gone: Vec<_> = documented.difference(&installed).collect();
    assert!(
        missing.is_empty(),
        "functions of the extension that docs/reference.md does not document: {missing:?}"
    );
    assert!(
        gone.is_empty(),
        "docs/reference.md documents functions the extension does not have: {gone:?}"
    );
}

/// GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.starts_with("```") {
                fenced = !fenced;
            }
            !fenced && l.starts_with('#')
        })
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// The targets of a markdown text's inline links `[text](target)`, outside code.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_link_of_the_readme_and_the_docs_leads_somewhere() {
    let root = root();
    let mut pages = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "md") {
            pages.push(e.path());
        }
    }
    let mut broken = Vec::new();
    let mut seen = 0;
    for page in &pages {
        let text = read(page);
        for target in links(&text) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            seen += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let dest = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !dest.exists() {
                broken.push(format!("{}: {target} (no such file)", page.display()));
                continue;
            }
            if let Some(a) = anchor {
                if dest.is_file() && !anchors(&read(&dest)).contains(a) {
                    broken.push(format!("{}: {target} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(seen > 10, "the pages link to each other ({seen} links)");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_stays_a_front_door() {
    let n = read(&root().join("README.md")).chars().count();
    assert!(
        n <= 15_000,
        "README.md is {n} characters; reference material belongs in docs/"
    );
}
