//! The core's floors, bottom up. A module imports only from its own floor and the floors
//! below it; the test here reads every `crate::` path (and `super::` reaching another
//! top-level module) under `shared/src` and fails on an import from a floor above, and on a
//! circle between top-level modules or between the children of one module (a child and its
//! parent may import each other). Unit tests (everything from a file's first `#[cfg(test)]`
//! at the start of a line on) may reach up to build their inputs: the floors bind the library.
//!
//! 1. `leaf`: plain types every floor shares: errors, the model, value kinds, the names the
//!    export writes (`layout`: folders, files, partition segments, catalog file names), the
//!    source's batch limits and the store's concurrency (`limits`), every retry policy
//!    (`retry`), the stop signal.
//! 2. `logic`: pure computation over them: planning, partitioning rules, catalog shapes and
//!    names, Arrow columns, the manifest.
//! 3. `io`: what reads and writes: the sources, the sink, and the `_work/` records a run
//!    keeps between its steps (`work`; they carry the sink's Parquet options and files), and
//!    reading a published export's manifest back, a shard at a time (`published`).
//! 4. `config`: what one export is asked to do, built from the floors' own options; the
//!    pipeline's input.
//! 5. `orchestration`: the pipeline (with the run report), the metrics drawn from the
//!    `_work/` records, and the serverless service.
//!
//! The CLI (`bin/snapex.rs`) and the Lambda functions sit on top, as other crates.

/// Each floor with its top-level modules, bottom up: the one list the check reads.
pub const FLOORS: &[(&str, &[&str])] = &[
    (
        "leaf",
        &[
            "error", "model", "types", "memory", "stop", "layout", "limits", "retry", "floors",
        ],
    ),
    (
        "logic",
        &[
            "budget",
            "plan",
            "partitioning",
            "catalog",
            "columns",
            "manifest",
        ],
    ),
    ("io", &["source", "sink", "work", "published"]),
    ("config", &["config"]),
    ("orchestration", &["pipeline", "metrics", "service"]),
];

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    use super::FLOORS;

    fn floor_of(module: &str) -> Option<usize> {
        FLOORS.iter().position(|(_, mods)| mods.contains(&module))
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The module path of a file: `pipeline/steps.rs` is `[pipeline, steps]`, `pipeline/mod.rs`
    /// and `config.rs` are `[pipeline]` and `[config]`.
    fn module_path(relative: &Path) -> Vec<String> {
        let mut parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        parts
    }

    fn is_ident(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_'
    }

    /// The names `lib.rs` re-exports at the crate root (`crate::Error`), each with its module.
    fn root_reexports(lib: &str) -> BTreeMap<String, String> {
        let mut names = BTreeMap::new();
        for line in lib.lines() {
            let Some(rest) = line.trim().strip_prefix("pub use ") else {
                continue;
            };
            let Some((module, items)) = rest.split_once("::") else {
                continue;
            };
            for item in items.trim_matches(|c| "{};".contains(c)).split(',') {
                names.insert(item.trim().to_string(), module.to_string());
            }
        }
        names
    }

    /// Every top-level module a line names, through `crate::` or enough `super::`s (a name
    /// `lib.rs` re-exports counts as its module).
    fn targets(line: &str, here: &[String], root: &BTreeMap<String, String>) -> Vec<String> {
        let mut found = Vec::new();
        for path in paths(line, here) {
            let Some(first) = path.first() else {
                panic!("write one module per `use crate::` line: {line}");
            };
            if floor_of(first).is_some() {
                found.push(first.clone());
            } else if let Some(m) = root.get(first) {
                found.push(m.clone());
            }
        }
        found
    }

    struct Import {
        at: String,
        from: String,
        to: String,
    }

    fn imports() -> Vec<Import> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let root = root_reexports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        files.sort();
        let mut all = Vec::new();
        for file in files {
            let relative = file.strip_prefix(&src).unwrap();
            let here = module_path(relative);
            // The binary is another crate on top; `lib.rs` only declares the modules.
            if here[0] == "bin" || here[0] == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.starts_with("#[cfg(test)]") {
                    break;
                }
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                for to in targets(code, &here, &root) {
                    if to != here[0] {
                        all.push(Import {
                            at: format!("{}:{}", relative.display(), n + 1),
                            from: here[0].clone(),
                            to,
                        });
                    }
                }
            }
        }
        all
    }

    #[test]
    fn every_module_is_on_a_floor() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
        for line in lib.lines() {
            if let Some(m) = line.trim().strip_prefix("pub mod ") {
                let m = m.trim_end_matches(';');
                assert!(
                    floor_of(m).is_some(),
                    "module `{m}` is on no floor in FLOORS"
                );
            }
        }
    }

    #[test]
    fn no_module_imports_from_a_floor_above_its_own() {
        let mut upward = Vec::new();
        for i in imports() {
            let (Some(from), Some(to)) = (floor_of(&i.from), floor_of(&i.to)) else {
                upward.push(format!(
                    "{}: `{}` or `{}` is on no floor",
                    i.at, i.from, i.to
                ));
                continue;
            };
            if to > from {
                upward.push(format!(
                    "{}: {} ({}) imports {} ({})",
                    i.at, i.from, FLOORS[from].0, i.to, FLOORS[to].0
                ));
            }
        }
        assert!(
            upward.is_empty(),
            "imports from a floor above:\n{}",
            upward.join("\n")
        );
    }

    /// The circles in a graph given by its edges, each as the set of modules on it.
    fn circles(edges: impl IntoIterator<Item = (String, String)>) -> BTreeSet<String> {
        let mut reach: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            reach.entry(from).or_default().insert(to);
        }
        // The transitive closure: small enough to compute by repeating until nothing changes.
        loop {
            let mut changed = false;
            let snapshot = reach.clone();
            for targets in reach.values_mut() {
                for t in targets.clone() {
                    for u in snapshot.get(&t).into_iter().flatten() {
                        changed |= targets.insert(u.clone());
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut circles = BTreeSet::new();
        for (m, targets) in &reach {
            if targets.contains(m) {
                let circle: BTreeSet<&String> = reach
                    .iter()
                    .filter(|(o, t)| t.contains(m) && targets.contains(*o))
                    .map(|(o, _)| o)
                    .collect();
                circles.insert(format!("{circle:?}"));
            }
        }
        circles
    }

    #[test]
    fn no_circle_between_top_level_modules() {
        let circles = circles(imports().into_iter().map(|i| (i.from, i.to)));
        assert!(circles.is_empty(), "circles: {circles:?}");
    }

    /// The module paths a line names through `crate::` or `super::`, each as far as it goes.
    fn paths(line: &str, here: &[String]) -> Vec<Vec<String>> {
        let segments = |mut s: &str| -> Vec<String> {
            let mut out = Vec::new();
            loop {
                let seg: String = s.chars().take_while(|c| is_ident(*c)).collect();
                if seg.is_empty() {
                    break;
                }
                s = &s[seg.len()..];
                out.push(seg);
                match s.strip_prefix("::") {
                    Some(t) => s = t,
                    None => break,
                }
            }
            out
        };
        let mut found = Vec::new();
        for (i, _) in line.match_indices("crate::") {
            if i > 0 && line[..i].ends_with(|c: char| is_ident(c) || c == ':') {
                continue;
            }
            found.push(segments(&line[i + "crate::".len()..]));
        }
        let mut rest = line;
        while let Some(i) = rest.find("super::") {
            let preceded = i > 0 && rest[..i].ends_with(|c: char| is_ident(c) || c == ':');
            let mut tail = &rest[i..];
            let mut ups = 0;
            while let Some(t) = tail.strip_prefix("super::") {
                ups += 1;
                tail = t;
            }
            if !preceded && ups <= here.len() {
                let mut path = here[..here.len() - ups].to_vec();
                path.extend(segments(tail));
                found.push(path);
            }
            rest = tail;
        }
        found
    }

    /// The children of one module importing each other in a circle (a child importing its
    /// parent, or the parent its children, is fine).
    #[test]
    fn no_circle_between_a_modules_children() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let is_child = |top: &str, child: &str| {
            src.join(top).join(format!("{child}.rs")).is_file()
                || src.join(top).join(child).join("mod.rs").is_file()
        };
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut edges = Vec::new();
        for file in files {
            let here = module_path(file.strip_prefix(&src).unwrap());
            if here.len() < 2 || here[0] == "bin" {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for line in text.lines() {
                if line.starts_with("#[cfg(test)]") {
                    break;
                }
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for path in paths(line, &here) {
                    if path.len() >= 2
                        && path[0] == here[0]
                        && path[1] != here[1]
                        && is_child(&path[0], &path[1])
                    {
                        edges.push((format!("{}::{}", here[0], here[1]), path[..2].join("::")));
                    }
                }
            }
        }
        let circles = circles(edges);
        assert!(circles.is_empty(), "circles: {circles:?}");
    }
}
