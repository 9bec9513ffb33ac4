//! The fuzz targets for the files `merge` and `--resume` read: arbitrary bytes as a shard's
//! `partial.json` ([`partial`]) or a checkpoint's `state.json` ([`state`]), through the same
//! parse and verification functions the commands use, without the file system; and a price
//! history as `calibrate` reads it ([`prices`]).
//!
//! The property: no input makes tokenrisk panic, every rejection renders its message, and
//! an accepted file is consistent: its header has no problem left, and written again
//! (`partial_bytes`) it reads back to the same header and scenario text, and to an
//! accumulator that writes the same bytes again. An
//! accepted accumulator is also merged into an empty one (what `merge` does with it) and
//! compared with an empty set of rows (the cross-check `merge` and `--resume` run).
//!
//! Kept free of the rest of the fuzz crate so that the main test suite includes this file
//! (`tests/fuzz_inputs.rs`) and runs the targets over mutated inputs on stable Rust.

use tokenrisk::calibrate::read::{self as prices_read, ReadOptions};
use tokenrisk::engine::{cpu, Control, PathRange};
use tokenrisk::measure::Accumulator;
use tokenrisk::model::Params;
use tokenrisk::output::partial::{self, Header, Partial, PathsFile};
use tokenrisk::scale::{merge, resume};

/// A fixed-seed SplitMix64: the mutation source of the stable fuzz driver and the test suite's
/// run of these targets, so a mutation sequence repeats from run to run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when `n` is 0, drawing nothing).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// What an input did, coarsely: rejected at a check (the message's words before its first
/// number or quote), or accepted as which kind of file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InputOutcome {
    Rejected(String),
    Accepted(&'static str),
}

/// The first words of a message: which check refused it, without the values.
fn coarse(msg: &str) -> String {
    msg.split(|c: char| c.is_ascii_digit() || c == '"' || c == '(')
        .next()
        .unwrap_or("")
        .chars()
        .take(60)
        .collect()
}

fn rejected<E: std::fmt::Display>(e: E) -> InputOutcome {
    let msg = format!("{e:#}");
    assert!(!msg.is_empty(), "an empty error message");
    InputOutcome::Rejected(coarse(&msg))
}

/// The checks every accepted partial file must pass (module notes).
fn accepted(p: &Partial) {
    assert!(partial::header_problems(&p.header).is_empty());
    let again = partial::partial_bytes(&p.header, &p.scenario_toml, &p.acc).expect("rewrite");
    let back = partial::parse_partial(&again).expect("an accepted file, rewritten, is refused");
    assert_eq!(back.header, p.header);
    assert_eq!(back.scenario_toml, p.scenario_toml);
    let twice = partial::partial_bytes(&back.header, &back.scenario_toml, &back.acc).unwrap();
    assert!(
        twice == again,
        "the accumulator does not read back as written"
    );
    let mut sum = Accumulator::new(p.acc.report_days.clone());
    sum.merge(&p.acc);
    assert_eq!(sum.paths, p.acc.paths);
    let problems = partial::rows_problems(&p.acc, &[]);
    assert_eq!(
        problems.is_empty(),
        p.acc.paths == 0 && p.acc.per_path == Accumulator::new(vec![]).per_path,
        "{problems:?}"
    );
}

/// Arbitrary bytes as a shard's `partial.json`, as `merge` reads it.
pub fn partial(data: &[u8]) -> InputOutcome {
    let p = match partial::parse_partial(data) {
        Ok(p) => p,
        Err(e) => return rejected(e),
    };
    accepted(&p);
    let problems = merge::shard_problems(&p.header);
    if let Some(first) = problems.first() {
        return InputOutcome::Rejected(coarse(first));
    }
    InputOutcome::Accepted("shard")
}

/// Arbitrary bytes as a checkpoint's `state.json`, as `--resume` reads it.
pub fn state(data: &[u8]) -> InputOutcome {
    let p = match partial::parse_partial(data) {
        Ok(p) => p,
        Err(e) => return rejected(e),
    };
    accepted(&p);
    let problems = resume::state_problems(&p.header);
    if let Some(first) = problems.first() {
        return InputOutcome::Rejected(coarse(first));
    }
    InputOutcome::Accepted("checkpoint")
}

/// Arbitrary bytes as a price history, as `calibrate` and `backtest` read it. An accepted
/// series is sorted, unique by date, positive and finite; read again keeping outliers it has
/// exactly the flagged prints back, listed as kept.
pub fn prices(data: &[u8]) -> InputOutcome {
    let Ok(text) = std::str::from_utf8(data) else {
        return InputOutcome::Rejected("not UTF-8".into());
    };
    let s = match prices_read::parse(text, "fuzz.csv", &ReadOptions::default()) {
        Ok(s) => s,
        Err(e) => return rejected(e),
    };
    assert!(!s.obs.is_empty());
    assert!(s.obs.windows(2).all(|w| w[0].date < w[1].date));
    assert!(s.obs.iter().all(|o| o.value.is_finite() && o.value > 0.0));
    assert!(s
        .outliers
        .iter()
        .all(|o| o.excluded && !o.reason.is_empty()));
    let keep = ReadOptions {
        keep_outliers: true,
    };
    let k = prices_read::parse(text, "fuzz.csv", &keep).expect("accepted, then refused");
    assert_eq!(k.obs.len(), s.obs.len() + s.outliers.len());
    assert_eq!(k.outliers.len(), s.outliers.len());
    assert!(k.outliers.iter().all(|o| !o.excluded));
    InputOutcome::Accepted(s.layout.name())
}

/// Seed inputs for [`prices`]: the header and 40 lines of a file in `data/market/` of each
/// layout (TAO's first lines, with its listing-day print; FET's from just before its first
/// price, with blank rows; ETH's first lines).
pub fn price_seeds() -> Vec<(&'static str, Vec<u8>)> {
    [
        include_str!("../../data/market/tao-usd-daily.csv"),
        include_str!("../../data/market/fet-usd-yahoo.csv"),
        include_str!("../../data/market/eth-usd-coingecko.csv"),
    ]
    .iter()
    .map(|t| {
        // the header, then 40 lines from a few blank rows before the first price
        let lines: Vec<&str> = t.lines().collect();
        let first = lines[1..]
            .iter()
            .position(|l| !l.contains(",,"))
            .unwrap_or(0);
        let from = 1 + first.saturating_sub(3);
        let mut text = lines[0].to_string() + "\n";
        for l in &lines[from..(from + 40).min(lines.len())] {
            text += l;
            text += "\n";
        }
        ("prices", text.into_bytes())
    })
    .collect()
}

/// Seed inputs: a finished shard's `partial.json` and a two-block checkpoint's `state.json`
/// of a small run (made in memory; the listed files' sizes and hashes are placeholders, as
/// the targets never open them).
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let preset = tokenrisk::scenario::preset("death_spiral_stress").unwrap();
    let text = preset
        .toml
        .replace("horizon_days = 1460", "horizon_days = 90");
    let mut s = tokenrisk::scenario::parse(&text, "seed.toml").expect("seed scenario");
    s.scenario.paths = 4;
    let params = Params::compile(&s);
    let range = PathRange { start: 2, count: 2 };
    let out = cpu::run(&params, s.scenario.seed, range, &Control::none()).unwrap();
    let file = |name: &str, start: u64, count: u64| PathsFile {
        name: name.to_string(),
        path_start: start,
        path_count: count,
        bytes: 1000,
        sha256: "0".repeat(64),
    };
    let mut shard = Header::new(
        "shard",
        &s,
        (1, 2),
        range,
        out.acc.report_days.clone(),
        out.engine,
        &out.device,
    );
    shard.completed = 2;
    shard.paths_files = vec![file("paths.parquet", 2, 2)];
    let mut state = shard.clone();
    state.kind = "checkpoint".into();
    state.paths_files = vec![
        file("block-000000000002.parquet", 2, 1),
        file("block-000000000003.parquet", 3, 1),
    ];
    let bytes = |h: &Header| partial::partial_bytes(h, &s.source_toml, &out.acc).unwrap();
    vec![("partial", bytes(&shard)), ("state", bytes(&state))]
}
