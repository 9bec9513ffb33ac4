//! `tokenrisk validate` and `tokenrisk presets`.

use super::load_scenario;
use crate::scenario;
use anyhow::{Context, Result};

pub fn cmd_validate(files: &[String]) -> Result<i32> {
    let mut bad = 0;
    for f in files {
        match load_scenario(f) {
            Ok(_) => println!("{f}: ok"),
            Err(e) => {
                bad += 1;
                println!("{e:#}");
            }
        }
    }
    Ok(if bad == 0 { 0 } else { 1 })
}

pub fn cmd_presets() -> Result<i32> {
    for p in crate::scenario::PRESETS {
        let s = scenario::parse(p.toml, p.file)
            .with_context(|| format!("bundled preset {} is invalid", p.file))?;
        println!(
            "{:<24} {:<22} {}",
            p.stem(),
            s.scenario.name,
            s.scenario.description
        );
    }
    Ok(0)
}
