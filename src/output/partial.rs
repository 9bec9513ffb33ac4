//! The partial-result file that shards (`scale::shard`) and checkpoints (`scale::resume`)
//! share, `partial.json` (format `tokenrisk-partial` version 1), and the per-path row files
//! it lists, each with its size and SHA-256.
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

use super::manifest::{hex, sha256_hex, Provenance};
use super::{parquet as pq, write_atomic, RunInfo};
use crate::engine::PathRange;
use crate::measure::Accumulator;
use crate::model::{PathRecord, N_METRICS};
use crate::scenario::Scenario;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

/// File name of a shard's partial result.
pub const PARTIAL_FILE: &str = "partial.json";
/// `header.format` of every partial file.
pub const PARTIAL_FORMAT: &str = "tokenrisk-partial";
/// `header.format_version` written (and the only one read).
pub const PARTIAL_FORMAT_VERSION: u32 = 1;

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
    /// The run's; `paths` is the whole run's, not the shard's.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// N: how many shards the run is cut into (1 for an unsharded run's checkpoint).
    pub shards: u64,
    /// I: this shard (0-based).
    pub shard: u64,
    /// The shard's range of path ids.
    pub path_start: u64,
    pub path_count: u64,
    /// Paths of the range done (from `path_start`, in order): `path_count` for a shard.
    pub completed: u64,
    #[serde(serialize_with = "one_line")]
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
        (shard, shards): (u64, u64),
        range: PathRange,
        report_days: Vec<u32>,
        engine: &str,
        device: &str,
    ) -> Header {
        Header {
            format: PARTIAL_FORMAT.to_string(),
            format_version: PARTIAL_FORMAT_VERSION,
            kind: kind.to_string(),
            provenance: Provenance::new(s, s.scenario.seed, s.scenario.paths),
            shards,
            shard,
            path_start: range.start,
            path_count: range.count,
            completed: 0,
            report_days,
            engine: engine.to_string(),
            device: device.to_string(),
            simulate_seconds: 0.0,
            created_at: super::clock::rfc3339_utc(SystemTime::now()),
            paths_files: Vec::new(),
            accumulator_sha256: String::new(),
        }
    }

    /// The fields that must agree for two partials to describe the same run and range:
    /// (name, value in this header, value in `other`) for each that differs.
    pub fn identity_differences(&self, other: &Header) -> Vec<(&'static str, String, String)> {
        let (a, b) = (&self.provenance, &other.provenance);
        let mut d = Vec::new();
        for (name, x, y) in [
            (
                "format_version",
                self.format_version.to_string(),
                other.format_version.to_string(),
            ),
            (
                "tokenrisk_version",
                a.tokenrisk_version.clone(),
                b.tokenrisk_version.clone(),
            ),
            (
                "model_version",
                a.model_version.clone(),
                b.model_version.clone(),
            ),
            (
                "scenario_sha256",
                a.scenario_sha256.clone(),
                b.scenario_sha256.clone(),
            ),
            ("seed", a.seed.to_string(), b.seed.to_string()),
            ("paths", a.paths.to_string(), b.paths.to_string()),
            ("shards", self.shards.to_string(), other.shards.to_string()),
            (
                "report_days",
                format!("{} rows", self.report_days.len()),
                format!("{} rows", other.report_days.len()),
            ),
        ] {
            if x != y {
                d.push((name, x, y));
            }
        }
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

/// The file as written: the header first and pretty (`head partial.json` reads it), then the
/// scenario text, then the accumulator in compact JSON, verbatim: its SHA-256 is of exactly
/// the bytes in the file.
#[derive(Serialize)]
struct FileOut<'a> {
    header: &'a Header,
    scenario_toml: &'a str,
    accumulator: &'a RawValue,
}

/// The file as read (the accumulator kept as its bytes until they are checked).
#[derive(Deserialize)]
struct FileIn {
    header: Header,
    scenario_toml: String,
    accumulator: Box<RawValue>,
}

/// A list written on one line inside pretty JSON (the header's `report_days`).
fn one_line<S: serde::Serializer>(v: &[u32], s: S) -> std::result::Result<S::Ok, S::Error> {
    let text = serde_json::to_string(v).map_err(serde::ser::Error::custom)?;
    RawValue::from_string(text)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

/// Counts that cannot hold in a valid accumulator (it came from a file: untrusted).
fn check_accumulator(acc: &Accumulator) -> Result<()> {
    if acc.series.len() != acc.report_days.len() * N_METRICS {
        bail!(
            "accumulator has {} series for {} report days x {N_METRICS} metrics",
            acc.series.len(),
            acc.report_days.len()
        );
    }
    for (what, k) in [
        ("spiraled", acc.spiraled),
        ("er_above_1", acc.er_above_1),
        ("broke_even", acc.broke_even),
        ("nonfinite_paths", acc.nonfinite_paths),
    ] {
        if k > acc.paths {
            bail!(
                "accumulator counts {what} = {k} of only {} paths",
                acc.paths
            );
        }
    }
    Ok(())
}

/// Writes a partial file to `path` atomically, filling in `header.accumulator_sha256`.
pub fn write_partial(
    path: &Path,
    header: &Header,
    scenario_toml: &str,
    acc: &Accumulator,
) -> Result<()> {
    let acc_json = RawValue::from_string(serde_json::to_string(acc)?)?;
    let mut header = header.clone();
    header.accumulator_sha256 = sha256_hex(acc_json.get().as_bytes());
    let file = FileOut {
        header: &header,
        scenario_toml,
        accumulator: &acc_json,
    };
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    super::write_atomic_bytes(path, text.as_bytes())
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
            h.provenance.tokenrisk_version
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
        let owned: FileIn = serde_json::from_slice(&bytes).map_err(json_error)?;
        let h = &owned.header;
        check_format(h)?;
        let acc_json = owned.accumulator.get();
        if sha256_hex(acc_json.as_bytes()) != h.accumulator_sha256 {
            bail!("the accumulator does not match its SHA-256 (the file was damaged)");
        }
        let acc: Accumulator =
            serde_json::from_str(acc_json).map_err(|e| anyhow!("not a valid accumulator ({e})"))?;
        check_accumulator(&acc)?;
        if acc.report_days != h.report_days {
            bail!("the accumulator's report days differ from the header's");
        }
        if acc.paths != h.completed {
            bail!(
                "the accumulator holds {} paths but the header says {} were completed",
                acc.paths,
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
        if sha256_hex(&owned.scenario_toml) != h.provenance.scenario_sha256 {
            bail!("the scenario text does not match scenario_sha256 (the file was damaged)");
        }
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
    s.scenario.paths = p.header.provenance.paths;
    s.scenario.seed = p.header.provenance.seed;
    Ok(s)
}

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
        digest = (hex(&w.hasher.finalize()), w.bytes);
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
        let sha = hex(&hasher.finalize());
        if sha != entry.sha256 {
            bail!("its SHA-256 differs from the one its partial file recorded: the file was damaged or replaced");
        }
        let file = std::fs::File::open(&path)?;
        let records = pq::read_paths(file)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let json = serde_json::to_string(&acc).unwrap();
        let back: Accumulator = serde_json::from_str(&json).unwrap();
        check_accumulator(&back).unwrap();
        assert_eq!(back, acc);
        // min/max of empty distributions (infinite) survive too.
        assert_eq!(back.per_path.breakeven_day.moments.min, f64::INFINITY);
        assert_eq!(back.nonfinite_paths, 1);
    }
}
