//! Scale-out: one run cut into N shards of contiguous path ids that run anywhere (other
//! processes, machines, scheduler tasks) and are merged afterwards (`tokenrisk merge`,
//! [`crate::merge`]); the partial-result file that shards and checkpoints
//! ([`crate::resume`]) share; and the up-front memory check of a run's size.
//!
//! # The split
//!
//! Shard `I` of `N` (0-based) over `P` paths simulates the path ids `start .. start + count`
//! with `count = P / N + (1 if I < P % N)` and `start = I * (P / N) + min(I, P % N)`: the
//! first `P % N` shards get one extra path, and the shards tile `0 .. P` in order. Path ids
//! address the Philox counters, so a shard's per-path results are exactly those of the same
//! ids in the unsharded run.
//!
//! # Where the shard index comes from ([`resolve`])
//!
//! - `--shard I/N`: explicit; the environment is ignored (`--shards M` must then equal N).
//! - `--shard auto`, or `--shards N` without `--shard`: the index from the scheduler's
//!   environment: `SLURM_ARRAY_TASK_ID` (a Slurm job array, `--array=0-(N-1)`), else
//!   `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job). N is `--shards N`, else (Slurm
//!   only) `SLURM_ARRAY_TASK_COUNT`; when both are given they must agree. A Slurm array must
//!   start at 0 with step 1 (`SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_STEP` are checked when
//!   set).
//! - Neither flag: not sharded, whatever the environment says (a plain `run` inside an array
//!   job that runs one scenario per task must not silently shrink to a share of its paths).
//!
//! # The partial file (`partial.json`, format `tokenrisk-partial` version 1)
//!
//! One JSON object, written atomically ([`crate::output::write_atomic`]) *after* the path
//! rows it lists, so its presence means the shard (or checkpoint) is complete:
//!
//! ```text
//! { "header": { format, format_version, kind ("shard" | "checkpoint"), tokenrisk_version,
//!               model_version, scenario, scenario_sha256, seed, paths (of the whole run),
//!               shards (N), shard (I), path_start, path_count (the shard's range),
//!               completed (paths done: = path_count for a finished shard), report_days,
//!               engine, device, simulate_seconds, created_at,
//!               paths_files: [{ name, path_start, path_count, bytes, sha256 }],
//!               accumulator_sha256 },
//!   "scenario_toml": "... the scenario as run (overlays included) ...",
//!   "accumulator": { the Accumulator; every f64 as its IEEE-754 bit pattern (u64) } }
//! ```
//!
//! Floats are stored as bit patterns because JSON has no infinities or NaN (an empty
//! distribution's `min` is +inf) and a decimal round trip is not guaranteed to be exact; the
//! accumulator therefore comes back bit for bit. `accumulator_sha256` (of the accumulator's
//! compact JSON) and the `sha256` of every path-rows file detect truncation and corruption;
//! every error names the file.

use crate::accumulate::{Accumulator, MetricAcc, PathSummaries};
use crate::engine::{EngineOutput, PathRange};
use crate::model::{PathRecord, N_METRICS};
use crate::output::{self, manifest, parquet as pq, write_atomic, RunInfo, MODEL_VERSION};
use crate::scenario::Scenario;
use crate::stats::{LogHistogram, Moments};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// File name of a shard's partial result.
pub const PARTIAL_FILE: &str = "partial.json";
/// `header.format` of every partial file.
pub const PARTIAL_FORMAT: &str = "tokenrisk-partial";
/// `header.format_version` written (and the only one read).
pub const PARTIAL_FORMAT_VERSION: u32 = 1;
/// Largest shard count accepted.
pub const MAX_SHARDS: u64 = 1_000_000;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: u64,
    pub count: u64,
}

impl ShardSpec {
    /// The shard's folder name under `OUT/<name>/`: `shard-I-of-N`.
    pub fn dir_name(&self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }

    /// The path ids of this shard of a `paths`-path run (see the module notes).
    pub fn range(&self, paths: u64) -> PathRange {
        shard_range(paths, self.index, self.count)
    }

    /// Checks the shard against the run's path count.
    pub fn check(&self, paths: u64) -> Result<()> {
        if self.count == 0 || self.count > MAX_SHARDS {
            bail!(
                "shard count {} is out of range; allowed: 1 to {MAX_SHARDS}",
                self.count
            );
        }
        if self.index >= self.count {
            bail!(
                "shard index {} is out of range for {} shards; allowed: 0 to {} (indices are 0-based)",
                self.index,
                self.count,
                self.count - 1
            );
        }
        if self.count > paths {
            bail!(
                "{} shards of {paths} paths would leave shards without paths; allowed: at most {paths} shards",
                self.count
            );
        }
        Ok(())
    }
}

/// `PathRange` of shard `index` of `shards` over `paths` paths: the first `paths % shards`
/// shards get one extra path.
pub fn shard_range(paths: u64, index: u64, shards: u64) -> PathRange {
    let base = paths / shards;
    let extra = paths % shards;
    PathRange {
        start: index * base + index.min(extra),
        count: base + u64::from(index < extra),
    }
}

/// Parses `I/N` (0-based I).
pub fn parse_spec(text: &str) -> Result<ShardSpec> {
    let bad =
        || anyhow!("--shard {text:?}: expected I/N with 0 <= I < N (0-based, e.g. 0/8), or auto");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let index: u64 = i.trim().parse().map_err(|_| bad())?;
    let count: u64 = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(ShardSpec { index, count })
}

/// Resolves the shard of this process from `--shard`, `--shards` and the environment (`env`
/// reads a variable; see the module notes for the precedence). Returns the shard and a phrase
/// saying where it came from, or `None` for an unsharded run.
pub fn resolve(
    shard: Option<&str>,
    shards: Option<u64>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(ShardSpec, String)>> {
    if let Some(n) = shards {
        if n == 0 || n > MAX_SHARDS {
            bail!("--shards {n} is out of range; allowed: 1 to {MAX_SHARDS}");
        }
    }
    match shard.map(str::trim) {
        None if shards.is_none() => Ok(None),
        Some(text) if text != "auto" => {
            let spec = parse_spec(text)?;
            if let Some(n) = shards {
                if n != spec.count {
                    bail!("--shard {text} and --shards {n} disagree on the shard count");
                }
            }
            Ok(Some((spec, format!("--shard {text}"))))
        }
        _ => from_env(shards, env).map(Some),
    }
}

fn env_u64(env: &dyn Fn(&str) -> Option<String>, var: &str) -> Result<Option<u64>> {
    match env(var) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            anyhow!("{var}={v:?} is not a whole number (the shard index comes from it)")
        }),
    }
}

fn from_env(
    shards: Option<u64>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(ShardSpec, String)> {
    let flag = match shards {
        Some(n) => format!("--shards {n}"),
        None => "--shard auto".to_string(),
    };
    if let Some(index) = env_u64(env, "SLURM_ARRAY_TASK_ID")? {
        for (var, want) in [("SLURM_ARRAY_TASK_MIN", 0), ("SLURM_ARRAY_TASK_STEP", 1)] {
            if let Some(v) = env_u64(env, var)? {
                if v != want {
                    bail!(
                        "{flag}: {var}={v}, but a sharded run needs a Slurm array 0..N-1 with step 1 \
                         (#SBATCH --array=0-<N-1>)"
                    );
                }
            }
        }
        let task_count = env_u64(env, "SLURM_ARRAY_TASK_COUNT")?;
        let count = match (shards, task_count) {
            (Some(n), Some(c)) if n != c => bail!(
                "--shards {n} disagrees with SLURM_ARRAY_TASK_COUNT={c} (the job array has {c} tasks)"
            ),
            (Some(n), _) => n,
            (None, Some(c)) => c,
            (None, None) => bail!(
                "--shard auto: SLURM_ARRAY_TASK_ID={index} is set but the shard count is not: \
                 give --shards N (SLURM_ARRAY_TASK_COUNT is unset)"
            ),
        };
        let spec = ShardSpec { index, count };
        if index >= count {
            bail!(
                "SLURM_ARRAY_TASK_ID={index} is out of range for {count} shards; allowed: 0 to {} \
                 (#SBATCH --array=0-{})",
                count - 1,
                count - 1
            );
        }
        return Ok((
            spec,
            format!("SLURM_ARRAY_TASK_ID={index} of {count}, {flag}"),
        ));
    }
    if let Some(index) = env_u64(env, "JOB_COMPLETION_INDEX")? {
        let Some(count) = shards else {
            bail!(
                "--shard auto: JOB_COMPLETION_INDEX={index} is set (Kubernetes Indexed Job) but the \
                 shard count is not: give --shards N (the Job's completions)"
            );
        };
        if index >= count {
            bail!(
                "JOB_COMPLETION_INDEX={index} is out of range for --shards {count}; allowed: 0 to {} \
                 (set the Job's completions to {count})",
                count - 1
            );
        }
        return Ok((
            ShardSpec { index, count },
            format!("JOB_COMPLETION_INDEX={index} of {count}, {flag}"),
        ));
    }
    bail!(
        "{flag} needs the shard index from the scheduler, but neither SLURM_ARRAY_TASK_ID \
         (Slurm job array) nor JOB_COMPLETION_INDEX (Kubernetes Indexed Job) is set; give it \
         explicitly with --shard I/N"
    )
}

// ---------------------------------------------------------------------------------------
// The partial file
// ---------------------------------------------------------------------------------------

/// One file of per-path rows (`paths.parquet` contract) that a partial lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathsFile {
    /// File name, relative to the partial's folder.
    pub name: String,
    pub path_start: u64,
    pub path_count: u64,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
}

/// The header of a partial file (see the module notes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub format_version: u32,
    /// `"shard"` or `"checkpoint"`.
    pub kind: String,
    pub tokenrisk_version: String,
    pub model_version: String,
    pub scenario: String,
    pub scenario_sha256: String,
    pub seed: u64,
    /// Paths of the whole run.
    pub paths: u64,
    /// N: how many shards the run is cut into (1 for an unsharded run's checkpoint).
    pub shards: u64,
    /// I: this shard (0-based).
    pub shard: u64,
    /// The shard's range of path ids.
    pub path_start: u64,
    pub path_count: u64,
    /// Paths of the range done (from `path_start`, in order): `path_count` for a shard.
    pub completed: u64,
    pub report_days: Vec<u32>,
    pub engine: String,
    pub device: String,
    pub simulate_seconds: f64,
    pub created_at: String,
    pub paths_files: Vec<PathsFile>,
    /// SHA-256 of the accumulator's compact JSON (filled in by [`write_partial`]).
    pub accumulator_sha256: String,
}

impl Header {
    /// A header for `range` of scenario `s` (paths, seed as overridden), nothing done yet.
    pub fn new(
        kind: &str,
        s: &Scenario,
        spec: ShardSpec,
        range: PathRange,
        report_days: Vec<u32>,
        engine: &str,
        device: &str,
    ) -> Header {
        Header {
            format: PARTIAL_FORMAT.to_string(),
            format_version: PARTIAL_FORMAT_VERSION,
            kind: kind.to_string(),
            tokenrisk_version: env!("CARGO_PKG_VERSION").to_string(),
            model_version: MODEL_VERSION.to_string(),
            scenario: s.scenario.name.clone(),
            scenario_sha256: manifest::sha256_hex(&s.source_toml),
            seed: s.scenario.seed,
            paths: s.scenario.paths,
            shards: spec.count,
            shard: spec.index,
            path_start: range.start,
            path_count: range.count,
            completed: 0,
            report_days,
            engine: engine.to_string(),
            device: device.to_string(),
            simulate_seconds: 0.0,
            created_at: manifest::rfc3339_utc(SystemTime::now()),
            paths_files: Vec::new(),
            accumulator_sha256: String::new(),
        }
    }

    /// The fields that must agree for two partials to describe the same run and range:
    /// (name, value in this header, value in `other`) for each that differs.
    pub fn identity_differences(&self, other: &Header) -> Vec<(&'static str, String, String)> {
        let mut d = Vec::new();
        let mut cmp = |name: &'static str, a: String, b: String| {
            if a != b {
                d.push((name, a, b));
            }
        };
        cmp(
            "format_version",
            self.format_version.to_string(),
            other.format_version.to_string(),
        );
        cmp(
            "tokenrisk_version",
            self.tokenrisk_version.clone(),
            other.tokenrisk_version.clone(),
        );
        cmp(
            "model_version",
            self.model_version.clone(),
            other.model_version.clone(),
        );
        cmp(
            "scenario_sha256",
            self.scenario_sha256.clone(),
            other.scenario_sha256.clone(),
        );
        cmp("seed", self.seed.to_string(), other.seed.to_string());
        cmp("paths", self.paths.to_string(), other.paths.to_string());
        cmp("shards", self.shards.to_string(), other.shards.to_string());
        cmp(
            "report_days",
            format!("{} rows", self.report_days.len()),
            format!("{} rows", other.report_days.len()),
        );
        if self.report_days.len() == other.report_days.len()
            && self.report_days != other.report_days
        {
            d.push(("report_days", "(days)".into(), "(other days)".into()));
        }
        d
    }
}

/// A partial result: header, the scenario text as run, and the accumulator.
#[derive(Debug, Clone)]
pub struct Partial {
    pub header: Header,
    pub scenario_toml: String,
    pub acc: Accumulator,
}

/// Serialised `Moments`: floats as IEEE-754 bit patterns (exact, and non-finite safe).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MomentsRepr {
    n: u64,
    nonfinite: u64,
    mean: u64,
    m2: u64,
    min: u64,
    max: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MetricRepr {
    moments: MomentsRepr,
    hist: LogHistogram,
}

impl MetricRepr {
    fn of(m: &MetricAcc) -> MetricRepr {
        let Moments {
            n,
            mean,
            m2,
            nonfinite,
            min,
            max,
        } = m.moments;
        MetricRepr {
            moments: MomentsRepr {
                n,
                nonfinite,
                mean: mean.to_bits(),
                m2: m2.to_bits(),
                min: min.to_bits(),
                max: max.to_bits(),
            },
            hist: m.hist.clone(),
        }
    }
    fn into_acc(self) -> MetricAcc {
        let r = self.moments;
        MetricAcc {
            moments: Moments {
                n: r.n,
                mean: f64::from_bits(r.mean),
                m2: f64::from_bits(r.m2),
                nonfinite: r.nonfinite,
                min: f64::from_bits(r.min),
                max: f64::from_bits(r.max),
            },
            hist: self.hist,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PathSummariesRepr {
    log_return: MetricRepr,
    max_drawdown: MetricRepr,
    price_retained: MetricRepr,
    final_price: MetricRepr,
    final_circulating: MetricRepr,
    er_ratio: MetricRepr,
    minted: MetricRepr,
    burned: MetricRepr,
    spiral_day: MetricRepr,
    breakeven_day: MetricRepr,
}

/// Serialised [`Accumulator`]. The conversions destructure every field, so a field added
/// to the accumulator fails to compile here until the format carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccRepr {
    report_days: Vec<u32>,
    series: Vec<MetricRepr>,
    paths: u64,
    spiraled: u64,
    er_above_1: u64,
    broke_even: u64,
    nonfinite_paths: u64,
    per_path: PathSummariesRepr,
}

impl AccRepr {
    fn of(acc: &Accumulator) -> AccRepr {
        let Accumulator {
            report_days,
            series,
            paths,
            spiraled,
            er_above_1,
            broke_even,
            nonfinite_paths,
            per_path,
        } = acc;
        let PathSummaries {
            log_return,
            max_drawdown,
            price_retained,
            final_price,
            final_circulating,
            er_ratio,
            minted,
            burned,
            spiral_day,
            breakeven_day,
        } = per_path;
        AccRepr {
            report_days: report_days.clone(),
            series: series.iter().map(MetricRepr::of).collect(),
            paths: *paths,
            spiraled: *spiraled,
            er_above_1: *er_above_1,
            broke_even: *broke_even,
            nonfinite_paths: *nonfinite_paths,
            per_path: PathSummariesRepr {
                log_return: MetricRepr::of(log_return),
                max_drawdown: MetricRepr::of(max_drawdown),
                price_retained: MetricRepr::of(price_retained),
                final_price: MetricRepr::of(final_price),
                final_circulating: MetricRepr::of(final_circulating),
                er_ratio: MetricRepr::of(er_ratio),
                minted: MetricRepr::of(minted),
                burned: MetricRepr::of(burned),
                spiral_day: MetricRepr::of(spiral_day),
                breakeven_day: MetricRepr::of(breakeven_day),
            },
        }
    }

    /// The accumulator, after checking that its shape and counts are consistent.
    fn into_acc(self) -> Result<Accumulator> {
        if self.series.len() != self.report_days.len() * N_METRICS {
            bail!(
                "accumulator has {} series for {} report days x {N_METRICS} metrics",
                self.series.len(),
                self.report_days.len()
            );
        }
        for (what, k) in [
            ("spiraled", self.spiraled),
            ("er_above_1", self.er_above_1),
            ("broke_even", self.broke_even),
            ("nonfinite_paths", self.nonfinite_paths),
        ] {
            if k > self.paths {
                bail!(
                    "accumulator counts {what} = {k} of only {} paths",
                    self.paths
                );
            }
        }
        let p = self.per_path;
        Ok(Accumulator {
            report_days: self.report_days,
            series: self.series.into_iter().map(MetricRepr::into_acc).collect(),
            paths: self.paths,
            spiraled: self.spiraled,
            er_above_1: self.er_above_1,
            broke_even: self.broke_even,
            nonfinite_paths: self.nonfinite_paths,
            per_path: PathSummaries {
                log_return: p.log_return.into_acc(),
                max_drawdown: p.max_drawdown.into_acc(),
                price_retained: p.price_retained.into_acc(),
                final_price: p.final_price.into_acc(),
                final_circulating: p.final_circulating.into_acc(),
                er_ratio: p.er_ratio.into_acc(),
                minted: p.minted.into_acc(),
                burned: p.burned.into_acc(),
                spiral_day: p.spiral_day.into_acc(),
                breakeven_day: p.breakeven_day.into_acc(),
            },
        })
    }
}

#[derive(Deserialize)]
struct PartialOwned {
    header: Header,
    scenario_toml: String,
    accumulator: AccRepr,
}

fn sha256_bytes(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a partial file to `path` atomically, filling in `header.accumulator_sha256`.
pub fn write_partial(
    path: &Path,
    header: &Header,
    scenario_toml: &str,
    acc: &Accumulator,
) -> Result<()> {
    let acc_json = serde_json::to_string(&AccRepr::of(acc))?;
    let mut header = header.clone();
    header.accumulator_sha256 = sha256_bytes(acc_json.as_bytes());
    // Header first and pretty (`head partial.json` reads it); the accumulator compact.
    let mut text = String::with_capacity(acc_json.len() + scenario_toml.len() + 4096);
    text.push_str("{\n\"header\": ");
    text.push_str(&compact_report_days(&serde_json::to_string_pretty(
        &header,
    )?));
    text.push_str(",\n\"scenario_toml\": ");
    text.push_str(&serde_json::to_string(scenario_toml)?);
    text.push_str(",\n\"accumulator\": ");
    text.push_str(&acc_json);
    text.push_str("\n}\n");
    output::write_atomic_bytes(path, text.as_bytes())
}

/// Pretty JSON with the header's `report_days` on one line. JSON strings cannot hold a raw
/// newline, so the key at the start of a line is the field itself.
fn compact_report_days(pretty: &str) -> String {
    const KEY: &str = "\n  \"report_days\": [";
    let Some(at) = pretty.find(KEY) else {
        return pretty.to_string();
    };
    let open = at + KEY.len();
    let Some(len) = pretty[open..].find(']') else {
        return pretty.to_string();
    };
    let nums: Vec<&str> = pretty[open..open + len]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    format!(
        "{}{}{}",
        &pretty[..open],
        nums.join(","),
        &pretty[open + len..]
    )
}

/// The JSON error of a partial file, saying whether it was cut short.
fn json_error(e: serde_json::Error) -> anyhow::Error {
    if e.is_eof() {
        anyhow!("the file is truncated ({e}): the writer did not finish, or the file was cut short")
    } else {
        anyhow!("not a valid partial file ({e})")
    }
}

fn check_format(h: &Header) -> Result<()> {
    if h.format != PARTIAL_FORMAT {
        bail!("format {:?} is not {PARTIAL_FORMAT:?}", h.format);
    }
    if h.format_version != PARTIAL_FORMAT_VERSION {
        bail!(
            "format version {} is not supported by this tokenrisk (reads version {PARTIAL_FORMAT_VERSION}; written by tokenrisk {})",
            h.format_version,
            h.tokenrisk_version
        );
    }
    Ok(())
}

/// Reads only the header of a partial file: the whole file is parsed (so a truncated one is
/// an error), but the accumulator is skipped rather than kept. Errors name the file.
pub fn read_header(path: &Path) -> Result<Header> {
    #[derive(Deserialize)]
    struct HeaderOnly {
        header: Header,
    }
    let read = || -> Result<Header> {
        let file = std::fs::File::open(path).context("cannot read it")?;
        if file.metadata()?.len() == 0 {
            bail!("the file is empty (the writer did not finish, or the file was damaged)");
        }
        let h: HeaderOnly =
            serde_json::from_reader(std::io::BufReader::new(file)).map_err(json_error)?;
        check_format(&h.header)?;
        Ok(h.header)
    };
    read().with_context(|| format!("cannot use partial result {}", path.display()))
}

/// Reads and checks a partial file; every error names it.
pub fn read_partial(path: &Path) -> Result<Partial> {
    let read = || -> Result<Partial> {
        let bytes = std::fs::read(path).context("cannot read it")?;
        if bytes.is_empty() {
            bail!("the file is empty (the writer did not finish, or the file was damaged)");
        }
        let owned: PartialOwned = serde_json::from_slice(&bytes).map_err(json_error)?;
        let h = &owned.header;
        check_format(h)?;
        let acc_json = serde_json::to_string(&owned.accumulator)?;
        if sha256_bytes(acc_json.as_bytes()) != h.accumulator_sha256 {
            bail!("the accumulator does not match its SHA-256 (the file was damaged)");
        }
        if owned.accumulator.report_days != h.report_days {
            bail!("the accumulator's report days differ from the header's");
        }
        if owned.accumulator.paths != h.completed {
            bail!(
                "the accumulator holds {} paths but the header says {} were completed",
                owned.accumulator.paths,
                h.completed
            );
        }
        if h.completed > h.path_count || h.path_start.checked_add(h.path_count).is_none() {
            bail!(
                "inconsistent ranges in the header (completed {}, range {} + {})",
                h.completed,
                h.path_start,
                h.path_count
            );
        }
        let listed: u64 = h.paths_files.iter().map(|f| f.path_count).sum();
        if listed != h.completed {
            bail!(
                "the header lists path files of {listed} paths but {} were completed",
                h.completed
            );
        }
        if manifest::sha256_hex(&owned.scenario_toml) != h.scenario_sha256 {
            bail!("the scenario text does not match scenario_sha256 (the file was damaged)");
        }
        let acc = owned.accumulator.into_acc()?;
        Ok(Partial {
            header: owned.header,
            scenario_toml: owned.scenario_toml,
            acc,
        })
    };
    read().with_context(|| format!("cannot use partial result {}", path.display()))
}

/// Parses the scenario a partial was run with, with its paths and seed as run.
pub fn partial_scenario(p: &Partial, file: &Path) -> Result<Scenario> {
    let mut s = crate::scenario::parse(&p.scenario_toml, &file.display().to_string())
        .with_context(|| format!("the scenario stored in {} is not valid", file.display()))?;
    s.scenario.paths = p.header.paths;
    s.scenario.seed = p.header.seed;
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// Path rows
// ---------------------------------------------------------------------------------------

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `records` (path ids `start .. start + len`) as a `paths.parquet`-contract file
/// `dir/name`, atomically, with the run's metadata plus `tokenrisk.shard`,
/// `tokenrisk.path_start`, `tokenrisk.path_count`; returns its [`PathsFile`] entry.
pub fn write_paths_file(
    dir: &Path,
    name: &str,
    info: &RunInfo,
    header: &Header,
    records: &[PathRecord],
) -> Result<PathsFile> {
    let start = records.first().map_or(header.path_start, |r| r.path);
    let mut meta = pq::run_metadata(info, records.len() as u64);
    let kv = |k: &str, v: String| ::parquet::file::metadata::KeyValue::new(k.to_string(), v);
    meta.push(kv(
        "tokenrisk.shard",
        format!("{}/{}", header.shard, header.shards),
    ));
    meta.push(kv("tokenrisk.path_start", start.to_string()));
    meta.push(kv("tokenrisk.path_count", records.len().to_string()));
    meta.push(kv("tokenrisk.partial", header.kind.clone()));
    let mut digest = (String::new(), 0u64);
    write_atomic(&dir.join(name), |f| {
        let mut w = Hashing {
            inner: f,
            hasher: Sha256::new(),
            bytes: 0,
        };
        pq::write_paths(
            &mut w,
            pq::writer_properties(meta),
            &info.scenario.scenario.name,
            records,
        )?;
        digest = (
            w.hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            w.bytes,
        );
        Ok(())
    })?;
    Ok(PathsFile {
        name: name.to_string(),
        path_start: start,
        path_count: records.len() as u64,
        bytes: digest.1,
        sha256: digest.0,
    })
}

/// Reads the per-path rows of `entry` (in `dir`), after checking its size and SHA-256, and
/// that it holds exactly the path ids it should, in order. Errors name the file.
pub fn read_paths_file(dir: &Path, entry: &PathsFile) -> Result<Vec<PathRecord>> {
    let path = dir.join(&entry.name);
    let read = || -> Result<Vec<PathRecord>> {
        let mut file = std::fs::File::open(&path).context("cannot open it")?;
        let len = file.metadata()?.len();
        if len != entry.bytes {
            bail!(
                "it has {len} bytes but its partial file recorded {}: truncated or replaced",
                entry.bytes
            );
        }
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher)?;
        let sha: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if sha != entry.sha256 {
            bail!("its SHA-256 differs from the one its partial file recorded: the file was damaged or replaced");
        }
        let file = std::fs::File::open(&path)?;
        let records = read_paths_parquet(file)?;
        if records.len() as u64 != entry.path_count {
            bail!(
                "it holds {} rows, expected {}",
                records.len(),
                entry.path_count
            );
        }
        for (k, r) in records.iter().enumerate() {
            if r.path != entry.path_start + k as u64 {
                bail!(
                    "row {k} is path {}, expected path {} (rows must be the ids {}..{} in order)",
                    r.path,
                    entry.path_start + k as u64,
                    entry.path_start,
                    entry.path_start + entry.path_count
                );
            }
        }
        Ok(records)
    };
    read().with_context(|| format!("cannot use path rows {}", path.display()))
}

/// Decodes a `paths.parquet`-contract file into records (the inverse of
/// [`pq::write_paths`]).
pub fn read_paths_parquet(file: std::fs::File) -> Result<Vec<PathRecord>> {
    use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use arrow::array::{Array, BooleanArray, Float64Array, UInt32Array, UInt64Array};
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let want = pq::paths_schema();
    let have = builder.schema().clone();
    for f in want.fields() {
        match have.field_with_name(f.name()) {
            Ok(h) if h.data_type() == f.data_type() => {}
            Ok(h) => bail!(
                "column {} is {} (expected {})",
                f.name(),
                h.data_type(),
                f.data_type()
            ),
            Err(_) => bail!("column {} is missing", f.name()),
        }
    }
    let reader = builder.with_batch_size(pq::ROWS_PER_BATCH).build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        fn col<'a, T: 'static>(b: &'a arrow::array::RecordBatch, name: &str) -> Result<&'a T> {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<T>())
                .ok_or_else(|| anyhow!("column {name} cannot be read"))
        }
        let path = col::<UInt64Array>(&batch, "path")?;
        let spiral = col::<BooleanArray>(&batch, "spiral")?;
        let spiral_day = col::<UInt32Array>(&batch, "spiral_day")?;
        let breakeven_day = col::<UInt32Array>(&batch, "breakeven_day")?;
        let names = [
            "final_price",
            "min_price",
            "max_drawdown",
            "log_return",
            "final_circulating",
            "final_staked",
            "minted",
            "burned",
            "emission_usd",
            "revenue_usd",
            "er_ratio",
            "final_capacity",
            "min_capacity",
            "final_demand",
        ];
        let mut f = Vec::with_capacity(names.len());
        for n in names {
            let c = col::<Float64Array>(&batch, n)?;
            if c.null_count() > 0 {
                bail!("column {n} has nulls");
            }
            f.push(c);
        }
        if path.null_count() > 0 || spiral.null_count() > 0 {
            bail!("column path or spiral has nulls");
        }
        let opt = |a: &UInt32Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
        for i in 0..batch.num_rows() {
            out.push(PathRecord {
                path: path.value(i),
                spiral: spiral.value(i),
                spiral_day: opt(spiral_day, i),
                final_price: f[0].value(i),
                min_price: f[1].value(i),
                max_drawdown: f[2].value(i),
                log_return: f[3].value(i),
                final_circulating: f[4].value(i),
                final_staked: f[5].value(i),
                minted: f[6].value(i),
                burned: f[7].value(i),
                emission_usd: f[8].value(i),
                revenue_usd: f[9].value(i),
                er_ratio: f[10].value(i),
                final_capacity: f[11].value(i),
                min_capacity: f[12].value(i),
                final_demand: f[13].value(i),
                breakeven_day: opt(breakeven_day, i),
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// A shard run's outputs
// ---------------------------------------------------------------------------------------

/// Writes a finished shard into `dir` (`OUT/<name>/shard-I-of-N/`): `paths.parquet`, then
/// `partial.json` (both atomically; an older `partial.json` is removed first, so a crash
/// in between never pairs an old partial with new rows).
pub fn write_shard(
    dir: &Path,
    s: &Scenario,
    spec: ShardSpec,
    range: PathRange,
    out: &EngineOutput,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create shard folder {}", dir.display()))?;
    let partial_path = dir.join(PARTIAL_FILE);
    match std::fs::remove_file(&partial_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot replace {}", partial_path.display()))
        }
    }
    let mut header = Header::new(
        "shard",
        s,
        spec,
        range,
        out.acc.report_days.clone(),
        out.engine,
        &out.device,
    );
    header.completed = out.acc.paths;
    header.simulate_seconds = out.simulate_time.as_secs_f64();
    let info = RunInfo {
        scenario: s,
        seed: s.scenario.seed,
        engine: out.engine,
        device: &out.device,
        simulate_seconds: header.simulate_seconds,
        started_at: SystemTime::now(),
    };
    let entry = write_paths_file(dir, output::PATHS_FILE, &info, &header, &out.records)?;
    header.paths_files = vec![entry];
    write_partial(&partial_path, &header, &s.source_toml, &out.acc)?;
    Ok(dir.to_path_buf())
}

// ---------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------

/// Bytes a report-day histogram typically holds. Measured on `bittensor_halving` (four years,
/// weekly rows): a 1,024-path chunk accumulator takes about 14 MB, i.e. 5.5 KB per
/// histogram (a few hundred 8-byte buckets per sign, allocated with slack); maximum RSS was
/// 311 MB for 20,000 paths and 1.0 GB for 200,000, which this estimate brackets (0.35 and
/// 1.1 GB).
const HIST_BYTES: u64 = 6 * 1024;
/// Bytes per path of the Parquet writer's buffered row group (19 columns, before
/// compression), up to one row group.
const WRITER_BYTES_PER_ROW: u64 = 160;

/// What a run of some size needs in memory, by the estimate of [`estimate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryEstimate {
    /// Bytes per path (its record, kept until the outputs are written).
    pub per_path: u64,
    /// Bytes that do not grow with the paths (accumulators, writer buffers).
    pub fixed: u64,
    pub total: u64,
}

/// The memory a run of `paths` paths of `s` needs: the per-path records (`paths x
/// size_of::<PathRecord>()`), the run's accumulator and the CPU engine's chunk
/// accumulators in flight (report rows x metrics x a typical histogram), and the Parquet
/// writer's row-group buffer.
pub fn estimate(s: &Scenario, paths: u64) -> MemoryEstimate {
    let rows = crate::model::Params::compile(s).report_days().len() as u64;
    let metric = std::mem::size_of::<MetricAcc>() as u64 + HIST_BYTES;
    let acc = (rows * N_METRICS as u64 + 10) * metric;
    let per_path = std::mem::size_of::<PathRecord>() as u64;
    let chunk = crate::engine::cpu::CHUNK_PATHS;
    let in_flight = crate::engine::cpu::chunks_in_flight().min(paths.div_ceil(chunk))
        * (acc + chunk * per_path);
    let writer = paths.min(pq::ROW_GROUP_ROWS as u64) * WRITER_BYTES_PER_ROW;
    let fixed = acc + in_flight + writer;
    MemoryEstimate {
        per_path,
        fixed,
        total: paths.saturating_mul(per_path).saturating_add(fixed),
    }
}

/// Memory available to this process: the smallest of `MemAvailable` (`/proc/meminfo`) and
/// the cgroup limit less usage (v2 `memory.max`, v1 `memory.limit_in_bytes`), with where it
/// came from. `None` where none can be read (not Linux).
pub fn available_memory() -> Option<(u64, String)> {
    let mut best: Option<(u64, String)> = None;
    let mut offer = |bytes: u64, what: String| {
        if best.as_ref().is_none_or(|(b, _)| bytes < *b) {
            best = Some((bytes, what));
        }
    };
    if let Ok(info) = std::fs::read_to_string("/proc/meminfo") {
        if let Some(kb) = info
            .lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
        {
            offer(kb * 1024, "MemAvailable in /proc/meminfo".into());
        }
    }
    let read_num =
        |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    for (limit, usage) in [
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ] {
        if let Some(l) = read_num(limit) {
            // v1 reports "no limit" as a huge number.
            if l < (1u64 << 60) {
                let used = read_num(usage).unwrap_or(0);
                offer(
                    l.saturating_sub(used),
                    format!("the cgroup memory limit ({limit})"),
                );
            }
        }
    }
    best
}

/// Checks, before any work, that the output folder `dir` can be created and written in (a
/// probe file is created and removed), so a bad `--out` fails before a long simulation.
pub fn check_writable(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let probe = dir.join(format!(".tokenrisk-write-probe.{}.tmp", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"probe"))
        .with_context(|| format!("cannot write in output directory {}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Refuses, before simulating, a run of `paths` paths of `s` that cannot fit in memory, with
/// a message saying what would fit. `TOKENRISK_MEMORY_CHECK=off` skips the check.
pub fn check_memory(s: &Scenario, paths: u64, what: &str) -> Result<()> {
    if std::env::var("TOKENRISK_MEMORY_CHECK").is_ok_and(|v| v == "off" || v == "0") {
        return Ok(());
    }
    let Some((avail, source)) = available_memory() else {
        return Ok(());
    };
    check_memory_with(s, paths, what, avail, &source)
}

/// [`check_memory`] against a given amount of available memory.
pub fn check_memory_with(
    s: &Scenario,
    paths: u64,
    what: &str,
    avail: u64,
    source: &str,
) -> Result<()> {
    let est = estimate(s, paths);
    if est.total <= avail {
        return Ok(());
    }
    let fit = avail.saturating_sub(est.fixed) / est.per_path.max(1);
    let shards = paths.div_ceil(fit.max(1));
    bail!(
        "{}: {what} of {paths} paths would need about {} in memory ({} B per path for the \
         per-path records, plus {} for accumulators and buffers), but only {} is available \
         ({source}); at most about {fit} paths fit: use --paths {fit} or fewer, or split the \
         run with --shard I/N over at least {shards} shards on separate machines and \
         `tokenrisk merge` them (the merge holds every path too: merge on a larger machine). \
         TOKENRISK_MEMORY_CHECK=off skips this check",
        s.scenario.name,
        gib(est.total),
        est.per_path,
        gib(est.fixed),
        gib(avail),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_tile_the_paths() {
        for paths in [1u64, 2, 7, 10, 1000, 1023, 4097] {
            for n in 1..=paths.min(9) {
                let mut next = 0;
                for i in 0..n {
                    let r = shard_range(paths, i, n);
                    assert_eq!(r.start, next);
                    assert!(r.count == paths / n || r.count == paths / n + 1);
                    assert_eq!(r.count == paths / n + 1, i < paths % n);
                    next += r.count;
                }
                assert_eq!(next, paths);
            }
        }
    }

    #[test]
    fn spec_parsing() {
        assert_eq!(parse_spec("2/8").unwrap(), ShardSpec { index: 2, count: 8 });
        for bad in ["8/8", "1/0", "a/2", "3", "-1/2", "1/2/3"] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
    }

    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn resolution_precedence() {
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "5"),
            ("JOB_COMPLETION_INDEX", "1"),
        ];
        let env = env_of(&slurm);
        // No flag: environment ignored.
        assert!(resolve(None, None, &env).unwrap().is_none());
        // Explicit wins.
        let (s, _) = resolve(Some("1/2"), None, &env).unwrap().unwrap();
        assert_eq!(s, ShardSpec { index: 1, count: 2 });
        assert!(resolve(Some("1/2"), Some(3), &env).is_err());
        // auto: Slurm first, count from the array.
        let (s, from) = resolve(Some("auto"), None, &env).unwrap().unwrap();
        assert_eq!(s, ShardSpec { index: 3, count: 5 });
        assert!(from.contains("SLURM_ARRAY_TASK_ID=3"));
        assert!(resolve(None, Some(4), &env).is_err(), "count mismatch");
        // Kubernetes needs --shards.
        let k8s = [("JOB_COMPLETION_INDEX", "2")];
        let env = env_of(&k8s);
        assert!(resolve(Some("auto"), None, &env).is_err());
        let (s, _) = resolve(None, Some(3), &env).unwrap().unwrap();
        assert_eq!(s, ShardSpec { index: 2, count: 3 });
        assert!(resolve(None, Some(2), &env).is_err(), "index out of range");
        // Nothing set.
        let env = env_of(&[]);
        let e = resolve(None, Some(2), &env).unwrap_err().to_string();
        assert!(e.contains("SLURM_ARRAY_TASK_ID") && e.contains("JOB_COMPLETION_INDEX"));
        // 1-based Slurm arrays are refused.
        let one_based = [
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert!(resolve(Some("auto"), None, &env_of(&one_based)).is_err());
        let junk = [("JOB_COMPLETION_INDEX", "x")];
        assert!(resolve(None, Some(2), &env_of(&junk)).is_err());
    }

    #[test]
    fn accumulator_round_trips_bit_for_bit() {
        let mut acc = Accumulator::new(vec![0, 7]);
        let r = PathRecord {
            path: 0,
            spiral: true,
            spiral_day: Some(3),
            final_price: 1.5,
            min_price: 0.1,
            max_drawdown: 0.9,
            log_return: -0.4,
            final_circulating: 1e6,
            final_staked: 0.0,
            minted: 10.0,
            burned: 0.0,
            emission_usd: 1.0,
            revenue_usd: 0.0,
            er_ratio: f64::INFINITY,
            final_capacity: 1.0,
            min_capacity: 1.0,
            final_demand: 1.0,
            breakeven_day: None,
        };
        acc.add_path(&r);
        acc.add_report(0, &[0.1; N_METRICS]);
        acc.add_report(1, &[f64::NAN; N_METRICS]);
        let json = serde_json::to_string(&AccRepr::of(&acc)).unwrap();
        let back: AccRepr = serde_json::from_str(&json).unwrap();
        let back = back.into_acc().unwrap();
        assert_eq!(back, acc);
        // min/max of empty distributions (infinite) survive too.
        assert_eq!(back.per_path.breakeven_day.moments.min, f64::INFINITY);
        assert_eq!(back.nonfinite_paths, 1);
    }

    #[test]
    fn memory_refusal_says_what_fits() {
        let s = crate::scenario::parse(crate::presets::ALL[0].toml, crate::presets::ALL[0].file)
            .unwrap();
        let e = check_memory_with(&s, 4_000_000_000, "the run", 8 << 30, "test")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most about"), "{e}");
        assert!(e.contains("--shard I/N"), "{e}");
        assert!(check_memory_with(&s, 1000, "the run", 8 << 30, "test").is_ok());
    }
}
