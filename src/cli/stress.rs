//! `tokenrisk stress list`: the bundled stress shapes, each with its shocks.

use crate::report::format::fmt_change_pct;
use crate::scenario::{overlay, STRESS_SHAPES};
use anyhow::Result;
use std::fmt::Write as _;

pub fn cmd_list() -> Result<i32> {
    print!("{}", render_list()?);
    Ok(0)
}

/// The text of `tokenrisk stress list`: every library shape with its shocks.
fn render_list() -> Result<String> {
    let mut out = String::new();
    for p in STRESS_SHAPES {
        let shape = overlay::library_shape(p)?;
        let _ = writeln!(
            out,
            "{:<18} {:>3} days  {}",
            shape.name,
            shape.span_days(),
            shape.description
        );
        if !shape.episode.is_empty() {
            let _ = writeln!(out, "{:<29}imitates: {}", "", shape.episode);
        }
        let steps: Vec<String> = shape
            .shocks
            .iter()
            .map(|sh| {
                let parts: Vec<String> = sh
                    .changes()
                    .iter()
                    .filter(|(_, v)| *v != 0.0)
                    .map(|(k, v)| format!("{k} {}", fmt_change_pct(*v)))
                    .collect();
                format!("+{}d {}", sh.offset_days, parts.join(", "))
            })
            .collect();
        let _ = writeln!(out, "{:<29}shocks: {}", "", steps.join("; "));
    }
    out.push_str(
        "\nApply with `--stress NAME@DAY` (offsets are days after DAY); every figure is an assumption, \
         see data/stress/NAME.toml.\n",
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_names_every_shape() {
        let text = super::render_list().unwrap();
        for p in crate::scenario::STRESS_SHAPES {
            assert!(text.contains(p.stem()), "{}", p.stem());
        }
        assert!(text.contains("price -50%"), "{text}");
    }
}
