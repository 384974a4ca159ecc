//! The folders are the architecture: this test fails when a module of `harness` or `sim` takes
//! part in an import cycle (between files, or between top-level folders), when a layer of `harness` looks up, or when a non-test source file
//! grows past 800 lines.
//!
//! A module is a source file (`x.rs` and `x/mod.rs` are module `x`; the crate roots are ignored).
//! A→B when A mentions `crate::…` or `super::…` resolving to B (the longest module prefix), or when
//! a parent mentions a child it declares as `child::…`. Test code (from a file's first
//! `#[cfg(test)]` on, and `tests.rs` files) is ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest non-test source file allowed, in lines.
const MAX_LINES: usize = 800;

/// `harness`'s layers, lowest first: a module may use its own layer and the layers below.
const HARNESS_LAYERS: &[&[&str]] = &[
    &["names", "scenario"],
    &["flows", "kube", "package", "tools", "v2"],
    &["target"],
    &["setup"],
    &["checks"],
    &["proof", "run", "report", "cli", "jobs"],
];

struct Crate {
    /// Module path (`a::b`) → the file's non-test text.
    modules: BTreeMap<String, String>,
    /// Module path → its file, for messages.
    files: BTreeMap<String, PathBuf>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(src: &Path) -> Crate {
    let mut modules = BTreeMap::new();
    let mut files = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src");
            let stem = rel.with_extension("");
            let mut parts: Vec<String> = stem
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts.last().is_some_and(|p| p == "tests") {
                continue;
            }
            if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("reading a source file");
            let code = match text.find("#[cfg(test)]") {
                Some(at) => text[..at].to_string(),
                None => text,
            };
            let name = parts.join("::");
            modules.insert(name.clone(), code);
            files.insert(name, path);
        }
    }
    Crate { modules, files }
}

/// Every path mentioned after `prefix` (`crate::` or `super::`), with `{…}` use-trees expanded.
fn mentioned_paths(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(pos) = code[from..].find(prefix) {
        let start = from + pos;
        from = start + prefix.len();
        // `super::` inside `super::super::` is taken by the first occurrence's walk.
        let before = code[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if prefix == "super::" && code[..start].ends_with("super::") {
            continue;
        }
        let mut ups = 0;
        let mut rest_at = from;
        if prefix == "super::" {
            ups = 1;
            while code[rest_at..].starts_with("super::") {
                ups += 1;
                rest_at += "super::".len();
            }
        }
        let mut acc = Vec::new();
        parse_tree(bytes, &mut rest_at.clone(), Vec::new(), &mut acc);
        for p in acc {
            let mut tagged = vec![format!("^{ups}")];
            tagged.extend(p);
            out.push(tagged);
        }
    }
    out
}

/// Parses `a::b::{c, d::e}` from `at`, pushing each full path onto `acc`.
fn parse_tree(b: &[u8], at: &mut usize, base: Vec<String>, acc: &mut Vec<Vec<String>>) {
    let mut path = base;
    loop {
        skip_ws(b, at);
        if *at < b.len() && b[*at] == b'{' {
            *at += 1;
            loop {
                skip_ws(b, at);
                if *at >= b.len() {
                    return;
                }
                if b[*at] == b'}' {
                    *at += 1;
                    return;
                }
                parse_tree(b, at, path.clone(), acc);
                skip_ws(b, at);
                if *at < b.len() && b[*at] == b',' {
                    *at += 1;
                }
            }
        }
        let start = *at;
        while *at < b.len() && (b[*at].is_ascii_alphanumeric() || b[*at] == b'_') {
            *at += 1;
        }
        if start == *at {
            acc.push(path);
            return;
        }
        path.push(String::from_utf8_lossy(&b[start..*at]).into_owned());
        if b[*at..].starts_with(b"::") {
            *at += 2;
            continue;
        }
        acc.push(path);
        return;
    }
}

fn skip_ws(b: &[u8], at: &mut usize) {
    while *at < b.len() && b[*at].is_ascii_whitespace() {
        *at += 1;
    }
}

/// The module a path names: the longest prefix that is a module.
fn resolve(krate: &Crate, segments: &[String]) -> Option<String> {
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|m| krate.modules.contains_key(m))
}

fn edges(krate: &Crate) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, code) in &krate.modules {
        let own: Vec<String> = name.split("::").map(str::to_string).collect();
        let mut targets = BTreeSet::new();
        for p in mentioned_paths(code, "crate::") {
            if let Some(t) = resolve(krate, &p[1..]) {
                targets.insert(t);
            }
        }
        for p in mentioned_paths(code, "super::") {
            let ups: usize = p[0][1..].parse().expect("tag");
            // `super` is relative to the module the file is: its parent is `own[..len-1]`.
            if ups > own.len() {
                continue;
            }
            let mut full: Vec<String> = own[..own.len() - ups].to_vec();
            full.extend(p[1..].iter().cloned());
            if let Some(t) = resolve(krate, &full) {
                targets.insert(t);
            }
        }
        // A parent using a child it declares.
        for child in krate.modules.keys() {
            if let Some(rest) = child.strip_prefix(&format!("{name}::"))
                && !rest.contains("::")
            {
                let needle = format!("{rest}::");
                let uses_child = code.match_indices(&needle).any(|(i, _)| {
                    !code[..i].ends_with("crate::")
                        && !code[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                });
                if uses_child {
                    targets.insert(child.clone());
                }
            }
        }
        targets.remove(name);
        graph.insert(name.clone(), targets);
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.found.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

fn check_no_cycles(krate_name: &str) {
    let krate = load(&workspace().join(krate_name).join("src"));
    let found = cycles(&edges(&krate));
    assert!(
        found.is_empty(),
        "import cycles in {krate_name}:\n{}",
        found
            .iter()
            .map(|c| format!("  {}", c.join(" <-> ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The graph between top-level modules (folders): `a::x -> b::y` becomes `a -> b`.
fn folder_edges(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
    let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in graph {
        let entry = folders.entry(top(from)).or_default();
        entry.extend(targets.iter().map(|t| top(t)).filter(|t| *t != top(from)));
    }
    folders
}

fn check_no_folder_cycles(krate_name: &str) {
    let krate = load(&workspace().join(krate_name).join("src"));
    let found = cycles(&folder_edges(&edges(&krate)));
    assert!(
        found.is_empty(),
        "import cycles between top-level modules (folders) of {krate_name}:\n{}",
        found
            .iter()
            .map(|c| format!("  {}", c.join(" <-> ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn harness_folders_have_no_import_cycle() {
    check_no_folder_cycles("harness");
}

#[test]
fn sim_folders_have_no_import_cycle() {
    check_no_folder_cycles("sim");
}

#[test]
fn the_checker_sees_folder_cycles() {
    // No cycle between files, yet `a` and `b` depend on each other as folders.
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.insert("a::x".into(), ["b::y".to_string()].into());
    graph.insert("b::z".into(), ["a::w".to_string()].into());
    graph.insert("a::w".into(), BTreeSet::new());
    graph.insert("b::y".into(), BTreeSet::new());
    assert!(cycles(&graph).is_empty());
    assert_eq!(
        cycles(&folder_edges(&graph)),
        vec![vec!["a".to_string(), "b".to_string()]]
    );
}

#[test]
fn harness_has_no_import_cycle() {
    check_no_cycles("harness");
}

#[test]
fn sim_has_no_import_cycle() {
    check_no_cycles("sim");
}

#[test]
fn oip_has_no_import_cycle() {
    check_no_cycles("oip");
}

#[test]
fn harness_layers_only_look_down() {
    let krate = load(&workspace().join("harness").join("src"));
    let layer_of = |module: &str| {
        let top = module.split("::").next().unwrap_or(module);
        HARNESS_LAYERS.iter().position(|layer| layer.contains(&top))
    };
    let mut wrong = Vec::new();
    for (from, targets) in edges(&krate) {
        let Some(lf) = layer_of(&from) else {
            wrong.push(format!(
                "  {from}: not in any layer (add its folder to HARNESS_LAYERS)"
            ));
            continue;
        };
        for to in targets {
            if layer_of(&to).is_some_and(|lt| lt > lf) {
                wrong.push(format!("  {from} -> {to} (looks up a layer)"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "layering of harness/src:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn checks_never_call_other_checks() {
    let krate = load(&workspace().join("harness").join("src"));
    // What every check shares: its context and its verdict. Anything else moves down into kube/.
    let shared = ["checks::verdict", "checks::context"];
    let mut wrong = Vec::new();
    for (from, targets) in edges(&krate) {
        if !from.starts_with("checks::") || from == "checks::dispatch" {
            continue;
        }
        for to in targets {
            if to.starts_with("checks::")
                && !shared.contains(&to.as_str())
                && !to.starts_with(&format!("{from}::"))
            {
                wrong.push(format!("  {from} -> {to}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "a check uses another check (move what they share into kube/ or a shared checks module):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_source_file_over_the_limit() {
    let mut long = Vec::new();
    for krate in ["harness", "sim", "oip"] {
        let loaded = load(&workspace().join(krate).join("src"));
        for (name, file) in &loaded.files {
            // The whole file counts, inline tests included: long test modules move to `tests.rs`.
            let _ = name;
            let lines = std::fs::read_to_string(file)
                .expect("reading")
                .lines()
                .count();
            if lines > MAX_LINES {
                long.push(format!("  {} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "source files over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_cycles() {
    // The checker itself must find a cycle through `use crate::{…}`, `super::` and parent→child.
    let mut modules = BTreeMap::new();
    modules.insert(
        "a".to_string(),
        "use crate::{b::{Thing, other}, c};\n".to_string(),
    );
    modules.insert("b".to_string(), "fn f() { super::a::g(); }\n".to_string());
    modules.insert("c".to_string(), "pub use d::X;\n".to_string());
    modules.insert("c::d".to_string(), "use super::Y;\n".to_string());
    let krate = Crate {
        files: BTreeMap::new(),
        modules,
    };
    let mut found = cycles(&edges(&krate));
    found.sort();
    assert_eq!(
        found,
        vec![
            vec!["a".to_string(), "b".to_string()],
            vec!["c".to_string(), "c::d".to_string()]
        ]
    );
}

#[test]
fn only_the_embedded_provider_names_the_platform() {
    let krate = load(&workspace().join("harness").join("src"));
    let naming: Vec<&String> = krate
        .modules
        .iter()
        .filter(|(_, code)| code.contains("sim::"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(naming, vec!["target::embedded"], "modules naming `sim::`");
}
