//! `tokenrisk init NAME [--like PRESET] [--out FILE] [--force]`: writes a new scenario file
//! that lists every key of the format, each under a comment with its meaning, unit, default
//! and allowed values, all taken from `scenario::reference` (that is, docs/SCENARIO.md), so
//! nobody has to guess a key or its range.
//!
//! The values come from a scenario: a bundled one (`--like`, any name `tokenrisk presets`
//! lists, or a scenario file) or [`DEFAULT_DESIGN`]. It is turned into a table with every
//! default written out (`scenario::keys::scenario_table`), so the file parses back to the same
//! scenario (tested). Keys the scenario does not set (an optional table such as
//! `[market.regimes]`, or a key the chosen `kind` refuses) are written commented out with an
//! example value (`scenario::reference::example`), so every key is present.
//!
//! Why written by hand rather than with `toml_edit`: half of the file is commented-out keys,
//! which a TOML document cannot hold as items (only as free comment text around them), and
//! `toml_edit` is built here without its `display` feature. Each value is spelled by the
//! `toml` crate (`toml::Value`'s Display), and the text is parsed and validated before it is
//! written (atomically, `output::atomic`).

use crate::output::atomic::write_atomic_bytes;
use crate::scenario::reference::{self, plain, Entry};
use crate::scenario::schema::{self, Field, Shape};
use crate::scenario::{self, keys};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The new scenario's name (scenario.name; it names the output folder OUT/NAME/).
    pub name: String,
    /// Start from a bundled scenario's values (a name `tokenrisk presets` lists, e.g.
    /// render_bme or compare/halving) or a scenario file, instead of the default design.
    #[arg(long, value_name = "PRESET")]
    pub like: Option<String>,
    /// Write here instead of NAME.toml in the current folder.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// The design `init` starts from without `--like`: a mid-size compute network paying its
/// providers from 5% a year of inflation (70% to providers, 30% to stakers), with jobs
/// quoted in USD and paid in tokens, no burn, and demand growing 30% a year. Three years,
/// daily steps, 20,000 paths. Every other key is at its default. README.md, "Writing a
/// scenario", describes it.
pub const DEFAULT_DESIGN: &str = r#"
[scenario]
name = "new-design"
description = "A mid-size compute network paying providers from 5% a year of inflation (the starting design of tokenrisk init)"
horizon_days = 1095
paths = 20000

[token]
price = 1.0
issued = 100_000_000
staked_fraction = 0.3

[emission]
kind = "inflation"
annual_rate = 0.05
split = { providers = 0.7, stakers = 0.3 }

[demand]
usd_per_day = 20_000
growth = 0.3
volatility = 0.4
churn = 0.5

[market]
drift = 0.0
volatility = 0.9
impact = 1.0

[compute]
capacity = 2000
cost_per_unit_day = 12.0
throughput_usd_per_unit_day = 15.0
entry_speed = 2.0
exit_speed = 4.0

[staking]
target = 0.3
panic = 0.5
speed = 2.0
unstake_sell = 0.3
"#;

pub fn cmd_init(args: InitArgs) -> Result<i32> {
    let (base, from) = match &args.like {
        Some(like) => (
            scenario::resolve(like).with_context(|| format!("--like {like}"))?,
            format!("`{like}`"),
        ),
        None => (
            scenario::parse(DEFAULT_DESIGN, "the default design")
                .context("the default design of tokenrisk init is invalid (a bug)")?,
            "the default design of `tokenrisk init`".to_string(),
        ),
    };
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.toml", args.name)));
    let shown = path.display().to_string();
    let text = render(&base, &args.name, &from)?;
    // The file must read back; a bad NAME is the only thing of the user's that can fail.
    if let Err(e) = scenario::parse(&text, &shown) {
        if let Some(p) = e.problems.iter().find(|p| p.field == "scenario.name") {
            bail!("NAME {:?}: scenario.name: {}", args.name, p.message);
        }
        bail!("the file init made does not validate (a bug): {e}");
    }
    if path.exists() && !args.force {
        bail!("{shown} exists; pass --force to replace it, or --out FILE to write elsewhere");
    }
    if path.is_dir() {
        bail!("{shown} is a directory; pass --out FILE");
    }
    write_atomic_bytes(&path, text.as_bytes())?;
    println!(
        "wrote {shown}: scenario {}, from {from}; every key is listed, keys not set are commented out",
        args.name
    );
    println!(
        "next: tokenrisk validate {shown}; tokenrisk explain KEY; tokenrisk run {shown} --paths 2000"
    );
    Ok(0)
}

/// The commented file for `base` named `name`.
pub fn render(base: &scenario::Scenario, name: &str, from: &str) -> Result<String> {
    let mut t = keys::scenario_table(base).map_err(anyhow::Error::msg)?;
    if let Some(toml::Value::Table(m)) = t.get_mut("scenario") {
        m.insert("name".into(), toml::Value::String(name.to_string()));
    }
    let Shape::Table(fields) = schema::shape() else {
        unreachable!("a scenario is a table")
    };
    let mut w = Writer::default();
    for line in [
        format!("Scenario {name}, written by `tokenrisk init` from {from}."),
        "Every key of the format is here: the keys this scenario sets carry their values (defaults \
         written out), and the keys it does not set are commented out (`# key = example`): \
         uncomment one to use it. Each comment is the key's row of docs/SCENARIO.md; \
         `tokenrisk explain KEY` says more, `tokenrisk keys` lists them all."
            .to_string(),
        "Check it: tokenrisk validate FILE. Run it: tokenrisk run FILE --paths 2000.".to_string(),
    ] {
        w.comment(&line, "");
    }
    for f in fields {
        let value = t.get(f.name);
        match &f.shape {
            Shape::Table(sub) => {
                w.table(f.name, sub, value.and_then(|v| v.as_table()), false);
            }
            Shape::List(elem) => {
                let Shape::Table(sub) = &**elem else {
                    bail!("{}: a top-level list that is not of tables", f.name);
                };
                w.array(f.name, sub, value.and_then(|v| v.as_array()));
            }
            _ => w.any_table(f.name),
        }
    }
    Ok(w.out)
}

/// Longest comment line before wrapping.
const WIDTH: usize = 96;

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    /// `text` as comment lines: `# ` then the text, wrapped, continuation lines indented.
    fn comment(&mut self, text: &str, lead: &str) {
        self.comment_from(text, &format!("{lead}# "), lead)
    }

    /// [`Writer::comment`] with its own first-line prefix.
    fn comment_from(&mut self, text: &str, first: &str, lead: &str) {
        let mut line = first.to_string();
        let start = line.len();
        for word in text.split_whitespace() {
            if line.len() > start && line.len() + 1 + word.len() > WIDTH {
                self.out.push_str(line.trim_end());
                self.out.push('\n');
                line = format!("{lead}#   ");
            } else if line.len() > start && !line.ends_with("#   ") {
                line.push(' ');
            }
            line.push_str(word);
        }
        self.out.push_str(line.trim_end());
        self.out.push('\n');
    }

    /// The comment of one key: `name: meaning.` and `unit; default; allowed`.
    fn key_comment(&mut self, e: Option<&Entry>, leaf: &str, lead: &str) {
        match e {
            Some(e) => {
                self.comment(&format!("{leaf}: {}", e.short_meaning()), lead);
                self.comment_from(
                    &format!(
                        "unit: {}; default: {}; allowed: {}",
                        plain(&e.unit),
                        plain(&e.default),
                        plain(&e.allowed)
                    ),
                    &format!("{lead}#   "),
                    lead,
                );
            }
            None => self.comment(&format!("{leaf}:"), lead),
        }
    }

    /// A table and its sub-tables. `value` is what the scenario holds (None: not set, so
    /// every line is commented out); `commented` when an enclosing table is not set. `path`
    /// is the reference's key (`governance[].when` for the sub-table of an array's entry,
    /// whose header, `[governance.when]`, belongs to the entry above it).
    fn table(
        &mut self,
        path: &str,
        fields: &[Field],
        value: Option<&toml::Table>,
        commented: bool,
    ) {
        let off = commented || value.is_none();
        let e = reference::entry(path);
        self.out.push('\n');
        let about = e
            .map(|e| {
                if e.meaning.is_empty() {
                    format!("the {} table", e.section)
                } else {
                    format!("{} ({})", plain(&e.meaning), e.default)
                }
            })
            .unwrap_or_default();
        self.comment(&format!("{path}: {about}"), "");
        let header = path.replace("[]", "");
        self.out
            .push_str(&format!("{}[{header}]\n", if off { "# " } else { "" }));
        self.leaves(path, fields, value, off);
        for f in fields {
            if let Shape::Table(sub) = &f.shape {
                let p = format!("{path}.{}", f.name);
                let v = value.and_then(|t| t.get(f.name)).and_then(|v| v.as_table());
                self.table(&p, sub, v, off);
            }
        }
    }

    /// The value keys of a table (everything but its sub-tables), in the format's order.
    fn leaves(&mut self, path: &str, fields: &[Field], value: Option<&toml::Table>, off: bool) {
        for f in fields {
            if matches!(f.shape, Shape::Table(_)) {
                continue;
            }
            let key = format!("{path}.{}", f.name);
            let e = reference::entry(&key);
            self.key_comment(e, f.name, "");
            match value.and_then(|t| t.get(f.name)) {
                Some(v) if !off => self.out.push_str(&format!("{} = {v}\n", f.name)),
                Some(v) => self.out.push_str(&format!("# {} = {v}\n", f.name)),
                None => {
                    let example = reference::example(&key)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "...".into());
                    self.out.push_str(&format!("# {} = {example}\n", f.name));
                }
            }
        }
    }

    /// A blank line and the comment naming a table-like key with its meaning and default.
    fn about(&mut self, name: &str) {
        let e = reference::entry(name);
        self.out.push('\n');
        let about = e
            .map(|e| format!("{} ({})", plain(&e.meaning), e.default))
            .unwrap_or_default();
        self.comment(&format!("{name}: {about}"), "");
    }

    /// An array of tables (`[[vesting]]`): each entry, or one commented-out example entry.
    fn array(&mut self, name: &str, fields: &[Field], value: Option<&Vec<toml::Value>>) {
        self.about(name);
        let entries: Vec<&toml::Table> = value
            .map(|a| a.iter().filter_map(|v| v.as_table()).collect())
            .unwrap_or_default();
        if entries.is_empty() {
            self.out.push_str(&format!("# [[{name}]]\n"));
            self.leaves(&format!("{name}[]"), fields, None, true);
            self.entry_tables(name, fields, None, true);
        }
        for (i, t) in entries.iter().enumerate() {
            if i > 0 {
                self.out.push('\n');
            }
            self.out.push_str(&format!("[[{name}]]\n"));
            self.leaves(&format!("{name}[]"), fields, Some(t), false);
            self.entry_tables(name, fields, Some(t), false);
        }
    }

    /// The sub-tables of one entry of an array of tables (`governance[].when`), after its
    /// value keys: a `[governance.when]` header there applies to that entry.
    fn entry_tables(
        &mut self,
        name: &str,
        fields: &[Field],
        entry: Option<&toml::Table>,
        off: bool,
    ) {
        for f in fields {
            if let Shape::Table(sub) = &f.shape {
                let v = entry.and_then(|t| t.get(f.name)).and_then(|v| v.as_table());
                self.table(&format!("{name}[].{}", f.name), sub, v, off);
            }
        }
    }

    /// A table of any keys (`[sweep]`): a commented-out example.
    fn any_table(&mut self, name: &str) {
        self.about(name);
        self.out.push_str(&format!("# [{name}]\n"));
        if let Some(toml::Value::Table(t)) = reference::example(name) {
            for (k, v) in t {
                self.out.push_str(&format!("# \"{k}\" = {v}\n"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_design_renders_to_a_file_that_reads_back() {
        let base = scenario::parse(DEFAULT_DESIGN, "default").unwrap();
        let text = render(&base, "fresh", "the default design").unwrap();
        let s = scenario::parse(&text, "fresh.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(s.scenario.name, "fresh");
        assert!(text.contains("\n# [market.regimes]\n"), "{text}");
        assert!(text.lines().all(|l| l.len() <= WIDTH + 40), "{text}");
    }
}
