//! The server's layers import only the ones below them (`lib.rs`'s doc):
//! no import cycle among `src/`'s top-level modules, and the pure ones
//! (`analytics`, `time`, `filter`) and `error` import no layer above them.

use std::path::Path;

use presenced_test_support::layers::{bottom_up, find_cycle, module_graph};

#[test]
fn no_import_cycle_among_the_servers_modules() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for expected in ["analytics", "store", "config", "api", "web", "webhooks", "http"] {
        assert!(graph.contains_key(expected), "src/ has no module {expected}: {:?}", graph.keys());
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}\n{graph:#?}", cycle.join(" -> "));
    }
    println!("bottom up: {}", bottom_up(&graph).unwrap().join(" < "));
    let pure = ["analytics", "time", "filter", "error"];
    for module in pure {
        let above: Vec<&String> = graph[module].iter().filter(|m| !pure.contains(&m.as_str())).collect();
        assert!(above.is_empty(), "{module} imports {above:?}");
    }
}
