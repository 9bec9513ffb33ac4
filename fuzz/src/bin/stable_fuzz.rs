//! A mutation fuzzer for stable Rust (cargo-fuzz needs nightly): mutates the seed corpus
//! (the bundled scenarios, plus whatever is in `corpus/scenario/`) with byte flips, key and
//! line deletions, value swaps with extreme numbers (nan, inf, 1e308, 5e-324, integer
//! limits), huge arrays, repeated tables, inserted keys and splices, and calls the same
//! target function as the cargo-fuzz target for a bounded time. Inputs with a new outcome
//! (rejected at a new field, or simulated with new flags) join the corpus; inputs that
//! panic are written to `artifacts/scenario/crash-<hash>` and reported.
//!
//! `--target partial` or `--target state` fuzzes a shard's `partial.json` or a checkpoint's
//! `state.json` instead (`tokenrisk_fuzz::inputs`), seeded with the files of a small run made
//! in memory plus `corpus/<target>/`; the same mutations apply to their JSON lines.
//!
//! `--target prices` fuzzes a price history CSV, seeded with the head of `data/market/`'s files.
//!
//! Usage: `stable_fuzz [SECONDS] [--seed N] [--target scenario|partial|state|prices]` (run from
//! `fuzz/`). Exit code 1 if any input panicked.

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokenrisk_fuzz::inputs::Rng;
use tokenrisk_fuzz::{inputs, partial, prices, scenario, state, Outcome};

const EXTREMES: &[&str] = &[
    "0",
    "-0",
    "0.0",
    "-0.0",
    "-1",
    "1",
    "2",
    "0.5",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "5e-324",
    "-5e-324",
    "1e-300",
    "nan",
    "+nan",
    "-nan",
    "inf",
    "-inf",
    "+inf",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967295",
    "4294967296",
    "36500",
    "36501",
    "365",
    "366",
    "0.999999999",
    "1.000000001",
    "1e19",
    "1e-12",
    "100",
    "\"\"",
    "\"x\"",
    "\"none\"",
    "true",
    "false",
    "[]",
    "{}",
    "[1, 2, 3]",
    "[nan]",
    "[inf, -inf]",
    "1979-05-27T07:32:00Z",
    "'a'",
    "\"token\"",
    "\"usd\"",
    "\"cost\"",
    "\"bme\"",
    "\"revenue_burn\"",
    "\"schedule\"",
    "\"halving_by_supply\"",
    "\"halving_by_time\"",
];

const BYTES: &[u8] = b"=[]\"'#\n.-+eE0123456789{},_ \\\t";

fn hash_of(data: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

fn lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split(|&b| b == b'\n').map(|l| l.to_vec()).collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

/// Replaces the value of a `key = value` line (TOML) or a `"key": value,` line (JSON, its
/// trailing comma kept).
fn with_value(line: &[u8], value: &str) -> Option<Vec<u8>> {
    let eq = line
        .iter()
        .position(|&b| b == b'=')
        .or_else(|| line.windows(2).position(|w| w == b"\":").map(|i| i + 1))?;
    let mut out = line[..=eq].to_vec();
    out.push(b' ');
    out.extend_from_slice(value.as_bytes());
    if line.ends_with(b",") {
        out.push(b',');
    }
    Some(out)
}

fn huge_array(rng: &mut Rng) -> String {
    let n = *rng.pick(&[0usize, 1, 17, 33, 100, 1000, 20_000]);
    let v = *rng.pick(EXTREMES);
    let v = if v.starts_with('[') || v.starts_with('{') {
        "1e308"
    } else {
        v
    };
    let items = vec![v; n];
    format!("[{}]", items.join(", "))
}

fn mutate(
    rng: &mut Rng,
    corpus: &[Vec<u8>],
    valid: &[usize],
    keys: &[Vec<u8>],
    headers: &[Vec<u8>],
) -> Vec<u8> {
    // Mostly mutate inputs that simulate, so that mutations reach the model, not only the
    // parser; few mutations at a time for the same reason.
    let mut data = if !valid.is_empty() && rng.below(4) != 0 {
        corpus[*rng.pick(valid)].clone()
    } else {
        rng.pick(corpus).clone()
    };
    let rounds = if rng.below(2) == 0 {
        1
    } else {
        1 + rng.below(4)
    };
    for _ in 0..rounds {
        let mut ls = lines(&data);
        match rng.below(12) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
                continue;
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = *rng.pick(BYTES);
                continue;
            }
            2 if !ls.is_empty() => {
                let i = rng.below(ls.len());
                ls.remove(i);
            }
            3 if !ls.is_empty() => {
                let i = rng.below(ls.len());
                let l = ls[i].clone();
                ls.insert(i, l);
            }
            4 | 5 => {
                let with_eq: Vec<usize> = (0..ls.len())
                    .filter(|&i| ls[i].contains(&b'=') || ls[i].windows(2).any(|w| w == b"\":"))
                    .collect();
                if with_eq.is_empty() {
                    continue;
                }
                let i = *rng.pick(&with_eq);
                let v = if rng.below(5) == 0 {
                    huge_array(rng)
                } else {
                    rng.pick(EXTREMES).to_string()
                };
                if let Some(l) = with_value(&ls[i], &v) {
                    ls[i] = l;
                }
            }
            6 if !keys.is_empty() => {
                let at = rng.below(ls.len() + 1);
                let mut l = rng.pick(keys).clone();
                if rng.below(2) == 0 {
                    let v: &&str = rng.pick(EXTREMES);
                    if let Some(x) = with_value(&l, v) {
                        l = x;
                    }
                }
                ls.insert(at, l);
            }
            7 if !headers.is_empty() => {
                let at = rng.below(ls.len() + 1);
                ls.insert(at, rng.pick(headers).clone());
            }
            8 => {
                let other: &Vec<u8> = rng.pick(corpus);
                let other = lines(other);
                if other.is_empty() {
                    continue;
                }
                let a = rng.below(other.len());
                let b = (a + 1 + rng.below(20)).min(other.len());
                let at = rng.below(ls.len() + 1);
                for (k, l) in other[a..b].iter().enumerate() {
                    ls.insert(at + k, l.clone());
                }
            }
            9 if !data.is_empty() => {
                data.truncate(rng.below(data.len()));
                continue;
            }
            10 => {
                // Repeat a table block (e.g. [[shock]] many times).
                let starts: Vec<usize> =
                    (0..ls.len()).filter(|&i| ls[i].starts_with(b"[")).collect();
                if starts.is_empty() {
                    continue;
                }
                let s = *rng.pick(&starts);
                let e = (s + 1..ls.len())
                    .find(|&i| ls[i].starts_with(b"["))
                    .unwrap_or(ls.len());
                let block: Vec<Vec<u8>> = ls[s..e].to_vec();
                let times = *rng.pick(&[1usize, 2, 8, 17, 40]);
                for _ in 0..times {
                    for (k, l) in block.iter().enumerate() {
                        ls.insert(e + k, l.clone());
                    }
                }
            }
            _ if !data.is_empty() => {
                let a = rng.below(data.len());
                let b = (a + 1 + rng.below(64)).min(data.len());
                data.drain(a..b);
                continue;
            }
            _ => continue,
        }
        data = join(&ls);
    }
    data
}

fn load_dir(dir: &Path, out: &mut Vec<Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            load_dir(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push(b);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(60);
    let seed: u64 = args
        .iter()
        .position(|a| a == "--seed")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let target = args
        .iter()
        .position(|a| a == "--target")
        .and_then(|i| args.get(i + 1))
        .map_or("scenario", String::as_str)
        .to_string();
    let run: fn(&[u8]) -> Outcome = match target.as_str() {
        "scenario" => scenario,
        "partial" => |d| Outcome::Input(partial(d)),
        "state" => |d| Outcome::Input(state(d)),
        "prices" => |d| Outcome::Input(prices(d)),
        other => {
            eprintln!("--target {other}: allowed: scenario, partial, state, prices");
            std::process::exit(2);
        }
    };
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus_dir = here.join("corpus").join(&target);
    let artifacts = here.join("artifacts").join(&target);
    std::fs::create_dir_all(&corpus_dir).expect("create corpus folder");

    let mut seeds = Vec::new();
    if target == "scenario" {
        load_dir(&here.join("../data/scenarios"), &mut seeds);
    } else if target == "prices" {
        seeds.extend(inputs::price_seeds().into_iter().map(|(_, bytes)| bytes));
    } else {
        seeds.extend(
            inputs::seeds()
                .into_iter()
                .filter(|(name, _)| *name == target)
                .map(|(_, bytes)| bytes),
        );
    }
    let n_seeds = seeds.len();
    let mut corpus = seeds.clone();
    load_dir(&corpus_dir, &mut corpus);
    let ext = match target.as_str() {
        "scenario" => "toml",
        "prices" => "csv",
        _ => "json",
    };
    let mut known: HashSet<u64> = corpus.iter().map(|d| hash_of(d)).collect();
    let mut valid: Vec<usize> = Vec::new();
    // Keys and table headers of the seeds, for insertions.
    let mut keys = Vec::new();
    let mut headers = Vec::new();
    for s in &seeds {
        for l in lines(s) {
            let t = String::from_utf8_lossy(&l).trim().to_string();
            if t.starts_with('[') {
                headers.push(t.into_bytes());
            } else if t.contains('=') && !t.starts_with('#') {
                keys.push(t.into_bytes());
            }
        }
    }

    std::panic::set_hook(Box::new(|_| {}));
    let mut outcomes: BTreeMap<Outcome, u64> = BTreeMap::new();
    for (i, d) in corpus.iter().enumerate() {
        if let Ok(o) = catch_unwind(AssertUnwindSafe(|| run(d))) {
            if o.is_valid() {
                valid.push(i);
            }
            *outcomes.entry(o).or_default() += 1;
        }
    }
    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(seconds);
    let (mut execs, mut added, mut simulated) = (0u64, 0usize, 0u64);
    let mut crashes: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut slowest = (Duration::ZERO, 0u64);
    let mut nonfinite_seen = 0u64;
    while Instant::now() < deadline {
        let input = mutate(&mut rng, &corpus, &valid, &keys, &headers);
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| run(&input)));
        let dt = t.elapsed();
        execs += 1;
        let h = hash_of(&input);
        if dt > slowest.0 {
            slowest = (dt, h);
        }
        match r {
            Ok(o) => {
                let sim = o.is_valid();
                if matches!(
                    o,
                    Outcome::Simulated {
                        nonfinite: true,
                        ..
                    }
                ) && nonfinite_seen == 0
                {
                    std::fs::create_dir_all(&artifacts).ok();
                    let path = artifacts.join(format!("nonfinite-{h:016x}"));
                    let _ = std::fs::write(&path, &input);
                    println!(
                        "note: a valid scenario produced non-finite path values: {}",
                        path.display()
                    );
                }
                if matches!(
                    o,
                    Outcome::Simulated {
                        nonfinite: true,
                        ..
                    }
                ) {
                    nonfinite_seen += 1;
                }
                if sim {
                    simulated += 1;
                }
                let new = !outcomes.contains_key(&o);
                *outcomes.entry(o).or_default() += 1;
                // New outcomes, and a trickle of valid inputs (they vary the model's inputs).
                let keep = new || (sim && rng.below(64) == 0 && valid.len() < 4096);
                if keep && known.insert(h) {
                    let _ = std::fs::write(corpus_dir.join(format!("{h:016x}.{ext}")), &input);
                    if sim {
                        valid.push(corpus.len());
                    }
                    corpus.push(input);
                    added += 1;
                }
            }
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(non-string panic)".into());
                let key: String = msg.chars().take(160).collect();
                if let std::collections::btree_map::Entry::Vacant(e) = crashes.entry(key) {
                    std::fs::create_dir_all(&artifacts).ok();
                    let path = artifacts.join(format!("crash-{h:016x}"));
                    let _ = std::fs::write(&path, &input);
                    eprintln!("PANIC: {}\n  input saved to {}", e.key(), path.display());
                    e.insert(path);
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "stable_fuzz --target {target}: {execs} executions in {secs:.0} s ({:.0}/s, seed {seed}), {simulated} accepted (simulated); \
         corpus {} inputs ({n_seeds} seeds + {} saved, {added} new this run); {} distinct outcomes; \
         slowest input {:.1} ms; {nonfinite_seen} valid inputs with non-finite path values; {} distinct panics",
        execs as f64 / secs.max(1e-9),
        corpus.len(),
        corpus.len() - n_seeds,
        outcomes.len(),
        slowest.0.as_secs_f64() * 1e3,
        crashes.len()
    );
    for (msg, path) in &crashes {
        println!("  panic: {msg}\n    input: {}", path.display());
    }
    std::process::exit(if crashes.is_empty() { 0 } else { 1 });
}
