//! `tokenrisk presets`: the bundled scenarios, grouped by their folder under
//! `data/scenarios/` (the top-level presets, then e.g. the `compare/` pair). The first
//! column is the name every command accepts in place of a file (`tokenrisk run
//! compare/halving`, `tokenrisk init NAME --like compare/bme`).

use crate::scenario::{self, PRESETS};
use anyhow::{Context, Result};

pub fn cmd_presets() -> Result<i32> {
    let mut groups: Vec<&str> = Vec::new();
    for p in PRESETS {
        if !groups.contains(&p.group()) {
            groups.push(p.group());
        }
    }
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            println!();
        }
        match *group {
            "" => println!("presets (NAME, scenario.name, description):"),
            "compare" => println!(
                "compare/: a design pair for `tokenrisk compare compare/halving compare/bme`:"
            ),
            g => println!("{g}/:"),
        }
        for p in PRESETS.iter().filter(|p| p.group() == *group) {
            let s = scenario::parse(p.toml, p.file)
                .with_context(|| format!("bundled preset {} is invalid", p.file))?;
            println!(
                "  {:<24} {:<22} {}",
                p.stem(),
                s.scenario.name,
                s.scenario.description
            );
        }
    }
    Ok(0)
}
