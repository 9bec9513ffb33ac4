//! Fitted models written as scenario TOML: the fragment `fitted.toml` (only the keys a fit
//! sets, each value commented with its standard error, interval, data window, number of
//! observations, model and source file), and a complete scenario with those keys replaced in
//! its text (`calibrate --into`), every other line and comment kept.
//!
//! Shaped around [`Model::apply`], the one place that knows which scenario fields a model
//! sets and implies: what to write is the difference between a scenario and the same
//! scenario after `apply` (keys set, tables removed), found by comparing the two as TOML
//! tables. So a model FIT adds later (jumps, regimes, cost) is written without a change
//! here, and the `--into` text is checked to parse to exactly what `apply` gives.

use super::fit::{Fit, Param};
use crate::scenario::keys::{format_value, scenario_table};
use crate::scenario::{self, Scenario};
use anyhow::{anyhow, bail, Context, Result};
use chrono::NaiveDate;

/// Where a fit came from, for the comments on its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    /// The file's name as the user gave it.
    pub source: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Increments fitted.
    pub n: usize,
    /// The model's name (`gbm`, `regime`, `demand-gbm`).
    pub model: String,
    /// Why this model, in a few words (`lowest BIC of 3`, `asked for`).
    pub why: String,
}

/// One fit and where it came from.
#[derive(Clone, Debug)]
pub struct Fitted<'a> {
    pub fit: &'a Fit,
    pub prov: Provenance,
}

/// A change a fit makes to a scenario.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Dotted key set to a value; `fitted` when it is an estimate (else implied by the model).
    Set {
        key: String,
        value: toml::Value,
        fitted: bool,
    },
    /// A table or key the model removes (a GBM fit has no `market.regimes`).
    Remove { key: String },
}

/// Significant digits of the numbers in comments (the values themselves are exact).
const SIG: usize = 4;

fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (SIG as i32 - 1 - mag).max(0) as usize;
    format!("{x:.decimals$}")
}

/// The comment on a fitted value: its estimate rounded, SE and 95% interval, and where it
/// came from.
pub fn value_comment(p: &Param, prov: &Provenance) -> String {
    let (lo, hi) = p.interval();
    format!(
        "fitted {} (SE {}, 95% CI {} to {}); {} model ({}), {} {} to {}, n = {}",
        sig(p.value),
        sig(p.se),
        sig(lo),
        sig(hi),
        prov.model,
        prov.why,
        prov.source,
        prov.from,
        prov.to,
        prov.n
    )
}

/// The comment on a key the model implies rather than estimates.
pub fn implied_comment(prov: &Provenance) -> String {
    format!(
        "implied by the {} model fitted to {} (it has no such term)",
        prov.model, prov.source
    )
}

/// What `fit` changes about `base`: every estimated key (even when its value happens to be
/// unchanged), then every other key `Model::apply` changes, then what it removes.
pub fn changes(fit: &Fit, base: &Scenario) -> Result<Vec<Change>> {
    let mut applied = base.clone();
    fit.model.apply(&mut applied);
    let a = scenario_table(base).map_err(|e| anyhow!(e))?;
    let b = scenario_table(&applied).map_err(|e| anyhow!(e))?;
    let mut out: Vec<Change> = Vec::new();
    for p in &fit.params {
        let value = lookup(&b, p.key).ok_or_else(|| {
            anyhow!(
                "the {} model estimates `{}`, which is not a scenario key",
                fit.model.kind().name(),
                p.key
            )
        })?;
        out.push(Change::Set {
            key: p.key.to_string(),
            value: value.clone(),
            fitted: true,
        });
    }
    let mut rest = Vec::new();
    diff(&a, &b, "", &mut rest);
    for c in rest {
        let known =
            matches!(&c, Change::Set { key, .. } if fit.params.iter().any(|p| p.key == key));
        if !known {
            out.push(c);
        }
    }
    Ok(out)
}

fn lookup<'a>(t: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut segs = key.split('.');
    let mut v = t.get(segs.next()?)?;
    for s in segs {
        v = v.as_table()?.get(s)?;
    }
    Some(v)
}

/// Leaves of `b` that differ from `a` (a table new in `b` as its leaves), keys of `a` gone.
fn diff(a: &toml::Table, b: &toml::Table, prefix: &str, out: &mut Vec<Change>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    for (k, vb) in b {
        match (a.get(k), vb) {
            (Some(toml::Value::Table(ta)), toml::Value::Table(tb)) => diff(ta, tb, &join(k), out),
            (Some(va), _) if va == vb => {}
            (_, toml::Value::Table(tb)) => diff(&toml::Table::new(), tb, &join(k), out),
            _ => out.push(Change::Set {
                key: join(k),
                value: vb.clone(),
                fitted: false,
            }),
        }
    }
    for k in a.keys() {
        if !b.contains_key(k) {
            out.push(Change::Remove { key: join(k) });
        }
    }
}

/// A value as TOML text; floats spelled as their shortest round trip, so they read back
/// bit for bit.
fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::Float(x) if x.is_finite() => format!("{x:?}"),
        other => format_value(other),
    }
}

/// Sets `key` in `doc` to `value` with `comment` replacing the line's comment. A key inside
/// an inline table (`jumps = { rate = 4.0 }`, as the presets write them) cannot carry a
/// comment of its own: its comment joins the inline table's line. Returns the comment's
/// line key (the key or the inline table's), for joining.
fn set_commented(
    doc: &mut toml_edit::DocumentMut,
    key: &str,
    value: &toml::Value,
    comment: &str,
    inline_comments: &mut Vec<(String, String)>,
) -> Result<()> {
    use toml_edit::{Item, Value};
    let segs: Vec<&str> = key.split('.').collect();
    let text = value_text(value);
    let mut new: Value = text
        .parse()
        .map_err(|e| anyhow!("cannot write {key} = {text}: {e}"))?;
    let (last, parents) = segs.split_last().expect("a key has a segment");
    let mut t: &mut dyn toml_edit::TableLike = doc.as_table_mut();
    let mut inline_at: Option<String> = None;
    for (i, s) in parents.iter().enumerate() {
        let item = t.entry(s).or_insert(Item::Table(toml_edit::Table::new()));
        if inline_at.is_none() && matches!(item, Item::Value(Value::InlineTable(_))) {
            inline_at = Some(segs[..=i].join("."));
        }
        t = item
            .as_table_like_mut()
            .ok_or_else(|| anyhow!("cannot set {key}: {s} holds a value, not a table"))?;
    }
    match inline_at {
        None => {
            new.decor_mut().set_suffix(format!("   # {comment}"));
            match t.get_mut(last) {
                Some(Item::Value(old)) => {
                    let prefix = old.decor().prefix().cloned();
                    *old = new;
                    if let Some(p) = prefix {
                        old.decor_mut().set_prefix(p);
                    }
                }
                _ => {
                    t.insert(last, Item::Value(new));
                }
            }
        }
        Some(line) => {
            match t.get_mut(last) {
                Some(Item::Value(old)) => {
                    let decor = old.decor().clone();
                    *old = new;
                    *old.decor_mut() = decor;
                }
                _ => {
                    t.insert(last, Item::Value(new));
                }
            }
            inline_comments.push((line, format!("{}: {comment}", segs[segs.len() - 1])));
        }
    }
    Ok(())
}

/// Puts the joined comments of inline-table members at the end of their table's line.
fn comment_inline_lines(doc: &mut toml_edit::DocumentMut, comments: &[(String, String)]) {
    let mut lines: Vec<(&str, Vec<&str>)> = Vec::new();
    for (line, c) in comments {
        match lines.iter_mut().find(|(l, _)| l == line) {
            Some((_, v)) => v.push(c),
            None => lines.push((line, vec![c])),
        }
    }
    for (line, cs) in lines {
        let segs: Vec<&str> = line.split('.').collect();
        let (last, parents) = segs.split_last().expect("a key has a segment");
        let Some(t) = table_at(doc.as_table_mut(), parents) else {
            continue;
        };
        if let Some(toml_edit::Item::Value(v)) = t.get_mut(last) {
            v.decor_mut().set_suffix(format!("   # {}", cs.join("; ")));
        }
    }
}

/// The table (or inline table) at `path` below `t`, if there is one.
fn table_at<'a>(
    t: &'a mut dyn toml_edit::TableLike,
    path: &[&str],
) -> Option<&'a mut dyn toml_edit::TableLike> {
    match path.split_first() {
        None => Some(t),
        Some((s, rest)) => table_at(t.get_mut(s)?.as_table_like_mut()?, rest),
    }
}

/// Removes dotted `key` from `doc` (nothing when it is not written there).
fn remove(doc: &mut toml_edit::DocumentMut, key: &str) {
    let segs: Vec<&str> = key.split('.').collect();
    let (last, parents) = segs.split_last().expect("a key has a segment");
    if let Some(t) = table_at(doc.as_table_mut(), parents) {
        t.remove(last);
    }
}

/// The header comment lines of a written file.
fn comment_block(lines: &[String]) -> String {
    lines
        .iter()
        .flat_map(|l| l.lines())
        .map(|l| {
            if l.is_empty() {
                "#\n".to_string()
            } else {
                format!("# {l}\n")
            }
        })
        .collect()
}

/// The scenario whose changes name every key a model touches: a preset with jumps and
/// regimes, so a model that removes them shows it.
fn probe() -> Result<Scenario> {
    let p = scenario::preset("bittensor_halving").context("the bundled bittensor_halving")?;
    scenario::parse(p.toml, p.file).map_err(|e| anyhow!("{e}"))
}

/// The comment a changed key gets: the estimate's (SE, window, model) when the fit
/// estimated it, or the note that the model implies it.
fn comment_for(f: &Fitted, key: &str, fitted: bool) -> String {
    match (fitted, f.fit.get(key)) {
        (true, Some(p)) => value_comment(p, &f.prov),
        _ => implied_comment(&f.prov),
    }
}

/// `fitted.toml`: the keys each fit sets, in tables as a scenario has them, each value with
/// its comment; `header` lines first (source, window, model and why). A table the model
/// removes is named in a comment (a TOML fragment cannot remove it; `--into` does).
pub fn fragment(fitted: &[Fitted], header: &[String]) -> Result<String> {
    let base = probe()?;
    let mut doc = toml_edit::DocumentMut::new();
    let mut inline = Vec::new();
    let mut removed = Vec::new();
    for f in fitted {
        for c in changes(f.fit, &base)? {
            match c {
                Change::Set { key, value, fitted } => {
                    let comment = comment_for(f, &key, fitted);
                    set_commented(&mut doc, &key, &value, &comment, &mut inline)?;
                }
                Change::Remove { key } => removed.push(format!(
                    "The {} model has no [{key}]: delete that table from a scenario this overlays (calibrate --into does).",
                    f.prov.model
                )),
            }
        }
    }
    comment_inline_lines(&mut doc, &inline);
    let mut lines = header.to_vec();
    lines.extend(removed);
    let body = doc.to_string();
    let text = format!(
        "{}\n{}",
        comment_block(&lines),
        body.trim_start_matches('\n')
    );
    // The fragment must read back as TOML with exactly the values written.
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| anyhow!("fitted.toml does not read back: {e}"))?;
    for f in fitted {
        for p in &f.fit.params {
            let got = lookup(&table, p.key).and_then(toml::Value::as_float);
            if got.map(f64::to_bits) != Some(p.value.to_bits()) {
                bail!("fitted.toml does not read back {} = {}", p.key, p.value);
            }
        }
    }
    Ok(text)
}

/// A complete scenario: `text` (the scenario `label`) with every key the fits change
/// replaced in place (the fitted lines' comments replaced by the fit's), keys the models
/// imply set, tables they remove removed, every other line and comment kept; `header`
/// lines are put on top. Returns the text and the parsed scenario, which is checked to equal
/// `Model::apply` of every fit on the parsed original.
pub fn into_scenario(
    text: &str,
    label: &str,
    fitted: &[Fitted],
    header: &[String],
) -> Result<(String, Scenario)> {
    let original = scenario::parse(text, label).map_err(|e| anyhow!("{e}"))?;
    let mut expected = original.clone();
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| anyhow!("{label}: not valid TOML: {e}"))?;
    let mut inline = Vec::new();
    let mut removed = Vec::new();
    for f in fitted {
        for c in changes(f.fit, &expected)? {
            match c {
                Change::Set { key, value, fitted } => {
                    let comment = comment_for(f, &key, fitted);
                    set_commented(&mut doc, &key, &value, &comment, &mut inline)?;
                }
                Change::Remove { key } => {
                    remove(&mut doc, &key);
                    removed.push(format!(
                        "[{key}] removed: the {} model has none.",
                        f.prov.model
                    ));
                }
            }
        }
        f.fit.model.apply(&mut expected);
    }
    comment_inline_lines(&mut doc, &inline);
    let mut lines = header.to_vec();
    lines.extend(removed);
    let out = format!("{}#\n{}", comment_block(&lines), doc);
    let got = scenario::parse(&out, label)
        .map_err(|e| anyhow!("the calibrated scenario does not validate: {e}"))?;
    let (a, b) = (
        scenario_table(&got).map_err(|e| anyhow!(e))?,
        scenario_table(&expected).map_err(|e| anyhow!(e))?,
    );
    if a != b {
        let mut d = Vec::new();
        diff(&b, &a, "", &mut d);
        bail!("the calibrated text of {label} differs from the fitted model applied to it: {d:?}");
    }
    Ok((out, got))
}

/// Lays `fragment` over `base`: every key of the fragment replaces the base's (tables
/// merged key by key), the way a user pastes `fitted.toml` into a scenario.
pub fn overlay(base: &mut toml::Table, fragment: &toml::Table) {
    for (k, v) in fragment {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(f)) => overlay(b, f),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::fit::{fit, FitOptions, ModelKind};
    use crate::calibrate::series::Increments;

    fn gbm_fit() -> Fit {
        let mut inc = Increments::default();
        for i in 0..100 {
            inc.days.push(1);
            inc.dt.push(1.0 / 365.0);
            inc.x.push(if i % 2 == 0 { 0.03 } else { -0.025 });
        }
        fit(ModelKind::Gbm, &inc, &FitOptions::default()).unwrap()
    }

    fn prov() -> Provenance {
        Provenance {
            source: "t.csv".into(),
            from: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2024, 4, 10).unwrap(),
            n: 100,
            model: "gbm".into(),
            why: "asked for".into(),
        }
    }

    #[test]
    fn a_gbm_fit_changes_drift_volatility_jump_rate_and_removes_regimes() {
        let f = gbm_fit();
        let c = changes(&f, &probe().unwrap()).unwrap();
        let keys: Vec<String> = c
            .iter()
            .map(|c| match c {
                Change::Set { key, fitted, .. } => {
                    format!("{key}{}", if *fitted { "" } else { "*" })
                }
                Change::Remove { key } => format!("-{key}"),
            })
            .collect();
        assert_eq!(
            keys,
            [
                "market.drift",
                "market.volatility",
                "market.jumps.rate*",
                "-market.regimes"
            ]
        );
    }

    #[test]
    fn into_keeps_other_lines_and_equals_apply() {
        let p = scenario::preset("bittensor_halving").unwrap();
        let f = gbm_fit();
        let fitted = [Fitted {
            fit: &f,
            prov: prov(),
        }];
        let (text, s) = into_scenario(p.toml, p.file, &fitted, &["calibrated".into()]).unwrap();
        assert!(
            text.contains("price = 250.0             # article"),
            "{text}"
        );
        assert!(!text.lines().any(|l| l.trim() == "[market.regimes]"));
        assert!(text.contains("drift = ") && text.contains("SE "));
        assert_eq!(s.market.drift.to_bits(), f.params[0].value.to_bits());
        assert_eq!(s.market.jumps.rate, 0.0);
        // The jumps line keeps mean and stdev, and carries the implied rate's comment.
        let line = text.lines().find(|l| l.starts_with("jumps")).unwrap();
        assert!(
            line.contains("mean = -0.03") && line.contains("rate: implied"),
            "{line}"
        );
    }

    #[test]
    fn the_fragment_reads_back_and_overlays() {
        let f = gbm_fit();
        let text = fragment(
            &[Fitted {
                fit: &f,
                prov: prov(),
            }],
            &["hdr".into()],
        )
        .unwrap();
        assert!(text.starts_with("# hdr\n"), "{text}");
        let frag: toml::Table = toml::from_str(&text).unwrap();
        let base = crate::scenario::preset("render_bme").unwrap();
        let mut t: toml::Table = toml::from_str(base.toml).unwrap();
        overlay(&mut t, &frag);
        let merged = toml::to_string(&t).unwrap();
        let s = scenario::parse(&merged, "merged").unwrap();
        assert_eq!(s.market.volatility, f.params[1].value);
    }
}
