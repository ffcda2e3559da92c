//! The agent's layers import only the ones below them: no import cycle
//! among `src/`'s top-level modules (`wire`, `window`, `deliver`,
//! `hostapd`, `ubus`, `status`, `config`, `daemon`). README's Layout
//! section lists them bottom up; this prints the order the imports allow.

use std::path::Path;

use presenced_test_support::layers::{bottom_up, find_cycle, module_graph};

#[test]
fn no_import_cycle_among_the_agents_modules() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for expected in ["wire", "window", "deliver", "hostapd", "ubus", "status", "config", "daemon"] {
        assert!(graph.contains_key(expected), "src/ has no module {expected}: {:?}", graph.keys());
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}\n{graph:#?}", cycle.join(" -> "));
    }
    println!("bottom up: {}", bottom_up(&graph).unwrap().join(" < "));
    // The pure wire layer imports nothing of the crate.
    assert!(graph["wire"].is_empty(), "wire imports {:?}", graph["wire"]);
}
