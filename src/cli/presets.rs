//! `tokenrisk presets`: the bundled scenarios.

use crate::scenario::{self, PRESETS};
use anyhow::{Context, Result};

pub fn cmd_presets() -> Result<i32> {
    for p in PRESETS {
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
