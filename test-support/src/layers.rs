//! Which top-level modules of a crate import which, read from the source
//! text, and the first import cycle among them: layers are meant to import
//! only the ones below them, and a cycle is the sign that one does not.
//!
//! A module is a file or folder directly under `src/` (`src/store/` and
//! `src/store.rs` are `store`; `lib.rs` is the crate root, `crate`, and
//! `main.rs` too when there is no `lib.rs`: beside one it is the binary's
//! crate, which only uses the library). An import is any `crate::NAME` path, `$crate::NAME` in a macro
//! and `crate::{NAME, ...}` groups included, outside comments and outside
//! a file's `#[cfg(test)]` module (tests may reach anywhere), where NAME
//! is another top-level module or an item of the root; in the root itself,
//! also a module's name as a path's first segment (`use store::Store`).
//! It is a text scan,
//! not a compiler's resolution: good enough for a crate written the usual
//! way (`use crate::...`, tests at the end of a file), and the tests below
//! say what it does with each form.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module -> the modules it imports (never itself).
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The import graph of the crate whose sources are under `src`.
pub fn module_graph(src: &Path) -> Graph {
    let mut modules = BTreeSet::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(src).unwrap_or_else(|e| panic!("{}: {e}", src.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // With a lib.rs, main.rs is another crate (the binary, on top of
        // the library), not a part of its root.
        if name == "main.rs" && src.join("lib.rs").exists() {
            continue;
        }
        let module = if path.is_dir() {
            name
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if stem == "lib" || stem == "main" { "crate".to_string() } else { stem.to_string() }
        } else {
            continue;
        };
        modules.insert(module.clone());
        collect_rs(&path, &module, &mut files);
    }
    let mut graph: Graph = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for (module, path) in files {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut targets = imports(&text);
        if module == "crate" {
            // The root names its modules without `crate::` (`use store::Store`).
            targets.extend(modules.iter().filter(|m| names_module(&text, m)).cloned());
        }
        for target in targets {
            let target = if modules.contains(&target) { target } else { "crate".to_string() };
            if target != module {
                graph.get_mut(&module).unwrap().insert(target);
            }
        }
    }
    graph
}

/// `NAME::` as a path's first segment in the code of a root file.
fn names_module(text: &str, name: &str) -> bool {
    let code = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    let pattern = format!("{name}::");
    code.lines().map(|l| l.split("//").next().unwrap_or("")).any(|line| {
        line.match_indices(&pattern).any(|(i, _)| {
            !line[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        })
    })
}

fn collect_rs(path: &Path, module: &str, out: &mut Vec<(String, std::path::PathBuf)>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            collect_rs(&p, module, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push((module.to_string(), path.to_path_buf()));
    }
}

/// The first path segments after `crate::` in a file's code (comments and
/// its `#[cfg(test)]` module left out).
pub fn imports(text: &str) -> BTreeSet<String> {
    let code = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    let code: String = code.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        // `mycrate::x` is another crate's path.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// A cycle of the graph (its first module repeated at the end), if any.
pub fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(graph: &Graph, node: &str, marks: &mut BTreeMap<String, Mark>, path: &mut Vec<String>) -> Option<Vec<String>> {
        marks.insert(node.to_string(), Mark::OnPath);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next.as_str()).copied().unwrap_or(Mark::New) {
                Mark::OnPath => {
                    let from = path.iter().position(|p| p == next).unwrap();
                    let mut cycle = path[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(graph, next, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node.as_str()).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(graph, node, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// The modules bottom up (each after everything it imports), for a
/// message; `None` if there is a cycle.
pub fn bottom_up(graph: &Graph) -> Option<Vec<String>> {
    let mut placed: Vec<String> = Vec::new();
    let mut left: BTreeSet<&String> = graph.keys().collect();
    while !left.is_empty() {
        let ready: Vec<&String> = left
            .iter()
            .copied()
            .filter(|m| graph[*m].iter().all(|d| placed.contains(d) || !graph.contains_key(d)))
            .collect();
        if ready.is_empty() {
            return None;
        }
        for m in ready {
            left.remove(m);
            placed.push(m.clone());
        }
    }
    Some(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> Graph {
        edges.iter().map(|(m, ds)| (m.to_string(), ds.iter().map(|d| d.to_string()).collect())).collect()
    }

    #[test]
    fn imports_are_read_from_every_form_and_not_from_comments_tests_or_other_crates() {
        let text = "use crate::store::Store;\n\
                    use crate::{api::auth, config};\n\
                    let x = $crate::webhooks::x;\n\
                    let t: crate::time::T;\n\
                    // use crate::commented;\n\
                    /// see [`crate::documented`]\n\
                    use presenced_report::crate_like;\n\
                    use mycrate::other;\n\
                    #[cfg(test)]\nmod tests {\n use crate::only_in_tests;\n}\n";
        let found: Vec<String> = imports(text).into_iter().collect();
        assert_eq!(found, ["api", "config", "store", "time", "webhooks"]);
    }

    #[test]
    fn a_cycle_is_found_and_named_and_a_layered_graph_has_none() {
        let layered = graph(&[("http", &["api", "store"]), ("api", &["store"]), ("store", &["analytics"]), ("analytics", &[])]);
        assert_eq!(find_cycle(&layered), None);
        assert_eq!(bottom_up(&layered).unwrap(), ["analytics", "store", "api", "http"]);
        let round = graph(&[("config", &["store"]), ("store", &["webhooks"]), ("webhooks", &["config"]), ("http", &["config"])]);
        assert_eq!(find_cycle(&round).unwrap(), ["config", "store", "webhooks", "config"]);
        assert_eq!(bottom_up(&round), None);
        let mutual = graph(&[("status", &["ubus"]), ("ubus", &["status"])]);
        assert_eq!(find_cycle(&mutual).unwrap(), ["status", "ubus", "status"]);
    }

    #[test]
    fn the_graph_of_a_crate_on_disk() {
        let dir = crate::TempDir::new("layers");
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("store")).unwrap();
        std::fs::write(src.join("lib.rs"), "pub mod store; pub mod config;\nuse store::Db;\npub fn now() {}\n").unwrap();
        std::fs::write(src.join("config.rs"), "use crate::store::Db;\nuse crate::now;\n").unwrap();
        std::fs::write(src.join("main.rs"), "use mylib::{config, store};\nfn main() { config::run(); }\n").unwrap();
        std::fs::write(src.join("store/mod.rs"), "pub mod rows;\n").unwrap();
        std::fs::write(src.join("store/rows.rs"), "use crate::config::C;\n").unwrap();
        let g = module_graph(&src);
        assert_eq!(g, graph(&[("crate", &["store"]), ("config", &["crate", "store"]), ("store", &["config"])]));
        assert_eq!(find_cycle(&g).unwrap(), ["config", "crate", "store", "config"], "config uses the root, which uses store");
    }
}
