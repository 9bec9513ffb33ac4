//! The architecture as a test (docs/ARCHITECTURE.md, "Layers"): every module of `src/`
//! depends only on layers below its own, and no modules import each other in a circle, at
//! the level of top-level modules or of the modules inside one. Read from the source text:
//! `crate::` and `super::` paths outside comments.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, lowest layer first; a module may use only modules of lower layers.
const LAYERS: &[&[&str]] = &[
    &["lanes"],
    &["rng", "stats"],
    &["scenario"],
    &["model", "calibrate"],
    &["measure"],
    &["engine"],
    &["output"],
    &["report"],
    &["workflows"],
    &["scale"],
    &["cli"],
];

fn layer(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The paths named after `prefix` in `code`: `[a, b, c]` of `prefix::a::b::c`, and `[a]`,
/// `[b, c]`, `[d, e]`, `[d, f]` of `prefix::{a, b::c, d::{e, f}}`.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    /// Parses a use tree at the start of `s` into its paths; returns them and the rest.
    fn tree<'a>(s: &'a str, head: &[String], out: &mut Vec<Vec<String>>) -> &'a str {
        let s = s.trim_start();
        if let Some(mut rest) = s.strip_prefix('{') {
            loop {
                rest = tree(rest, head, out).trim_start();
                match rest.chars().next() {
                    Some(',') => rest = &rest[1..],
                    Some('}') => return &rest[1..],
                    _ => return rest,
                }
            }
        }
        let len = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        let mut path = head.to_vec();
        if len > 0 {
            path.push(s[..len].to_string());
        }
        let rest = &s[len..];
        match rest.strip_prefix("::") {
            Some(more) if len > 0 => tree(more, &path, out),
            _ => {
                if !path.is_empty() {
                    out.push(path);
                }
                rest
            }
        }
    }
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        tree(rest, &[], &mut out);
    }
    out
}

#[test]
fn use_trees_are_read_whole() {
    let got = paths_after(
        "use crate::{measure::{Summary, x}, workflows::single, a::b::c};",
        "crate::",
    );
    let want = [
        vec!["measure", "Summary"],
        vec!["measure", "x"],
        vec!["workflows", "single"],
        vec!["a", "b", "c"],
    ];
    assert_eq!(got, want);
}

/// Module-to-module uses: (module path, module path it uses), both at most two deep.
fn uses() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges = BTreeSet::new();
    for file in files {
        let module = module_of(&src, &file);
        if module.is_empty() || module == ["main"] || module == ["lib"] {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let at_depth =
            |path: &[String]| path.iter().take(2).cloned().collect::<Vec<_>>().join("::");
        let from = at_depth(&module);
        for target in paths_after(&code, "crate::") {
            // Inside one top-level module, the module two deep; else the top-level module.
            let depth = if target[0] == module[0] { 2 } else { 1 };
            edges.insert((from.clone(), at_depth(&target[..depth.min(target.len())])));
        }
        // `super::x` in module a::b::c (file c.rs) or in a::b's mod.rs names a sibling;
        // each further `super` goes up one more.
        for mut path in paths_after(&code, "super::") {
            let mut base = module[..module.len() - 1].to_vec();
            while path.first().is_some_and(|p| p == "super") {
                path.remove(0);
                base.pop();
            }
            let target: Vec<String> = base.into_iter().chain(path).collect();
            edges.insert((from.clone(), at_depth(&target)));
        }
    }
    edges
        .into_iter()
        .filter(|(a, b)| a != b && !b.is_empty())
        .collect()
}

#[test]
fn every_module_uses_only_lower_layers() {
    let mut wrong = Vec::new();
    for (from, to) in uses() {
        let (f, t) = (
            from.split("::").next().unwrap(),
            to.split("::").next().unwrap(),
        );
        if f == t {
            continue;
        }
        match (layer(f), layer(t)) {
            (Some(lf), Some(lt)) if lt < lf => {}
            (None, _) => wrong.push(format!("{from}: module {f} is in no layer")),
            (_, None) => wrong.push(format!("{from} uses {to}: {t} is in no layer")),
            _ => wrong.push(format!("{from} uses {to}, a layer not below its own")),
        }
    }
    assert!(
        wrong.is_empty(),
        "layering broken:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, b) in uses() {
        graph.entry(a).or_default().insert(b);
    }
    // Depth-first search for a back edge, reporting the circle.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut circle = stack[i..].to_vec();
            circle.push(n.to_string());
            return Some(circle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_string());
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(circle) = visit(n, &graph, &mut Vec::new(), &mut done) {
            panic!("import circle: {}", circle.join(" -> "));
        }
    }
    // The search sees the uses: the layer test would be vacuous otherwise.
    assert!(graph.values().map(BTreeSet::len).sum::<usize>() > 50);
}
