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
//!
//! Reading treats the file as untrusted (it may be edited, with hashes recomputed): parsing
//! and verification ([`parse_partial`]) need no file system, so they are fuzzed; every
//! header problem is reported at once, naming its field; listed names must be plain file
//! names; [`read_paths_file`] opens rows only through [`untrusted`] and checks their Parquet
//! metadata against the header; [`rows_problems`] checks the accumulator against the rows.

use super::manifest::{hex, sha256_hex, Provenance};
use super::{parquet as pq, untrusted, write_atomic, RunInfo};
use crate::engine::PathRange;
use crate::measure::{Accumulator, MetricAcc};
use crate::model::{PathRecord, N_METRICS};
use crate::scenario::Scenario;
use ::parquet::file::reader::{FileReader, SerializedFileReader};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
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

/// The bytes of a partial file, with `header.accumulator_sha256` filled in.
pub fn partial_bytes(header: &Header, scenario_toml: &str, acc: &Accumulator) -> Result<Vec<u8>> {
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
    Ok(text.into_bytes())
}

/// Writes a partial file ([`partial_bytes`]) to `path` atomically.
pub fn write_partial(
    path: &Path,
    header: &Header,
    scenario_toml: &str,
    acc: &Accumulator,
) -> Result<()> {
    super::write_atomic_bytes(path, &partial_bytes(header, scenario_toml, acc)?)
}

/// The largest partial file read (`partial.json`, `state.json`): one accumulator, megabytes
/// for a long daily run; the cap only keeps a wrong or endless file from exhausting memory.
pub const MAX_PARTIAL_BYTES: u64 = 1 << 30;
/// A path-rows file may have at most this many bytes per row it lists, plus
/// [`MAX_ROWS_FIXED_BYTES`] (a row takes about a hundred bytes).
pub const MAX_ROW_BYTES: u64 = 1 << 10;
pub const MAX_ROWS_FIXED_BYTES: u64 = 1 << 20;

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

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Every problem of a header read from a file, each naming its field: kind, shard and
/// ranges that cannot hold, a listed file name that is not a plain name inside the partial's
/// folder ([`untrusted::check_file_name`]), listed files that do not tile the completed
/// paths in order, hashes that are not SHA-256 hex.
pub fn header_problems(h: &Header) -> Vec<String> {
    let mut p = Vec::new();
    if h.kind != "shard" && h.kind != "checkpoint" {
        p.push(format!(
            "header.kind {:?} is not allowed; allowed: \"shard\" or \"checkpoint\"",
            h.kind
        ));
    }
    if h.shards == 0 || h.shard >= h.shards {
        p.push(format!(
            "header.shard {} of header.shards {} is out of range; allowed: 0 to shards - 1",
            h.shard, h.shards
        ));
    }
    let end = h.path_start.checked_add(h.path_count);
    if end.is_none_or(|e| e > h.provenance.paths) {
        p.push(format!(
            "header.path_start {} + header.path_count {} is past the run's {} paths",
            h.path_start, h.path_count, h.provenance.paths
        ));
    }
    if h.completed > h.path_count {
        p.push(format!(
            "header.completed {} is more than header.path_count {}",
            h.completed, h.path_count
        ));
    }
    if !is_sha256_hex(&h.provenance.scenario_sha256) {
        p.push("header.scenario_sha256 is not a SHA-256 in lowercase hex".into());
    }
    if !is_sha256_hex(&h.accumulator_sha256) {
        p.push("header.accumulator_sha256 is not a SHA-256 in lowercase hex".into());
    }
    let mut next = Some(h.path_start);
    for (k, f) in h.paths_files.iter().enumerate() {
        if let Some(why) = untrusted::check_file_name(&f.name) {
            p.push(format!(
                "header.paths_files[{k}].name {:?} is not allowed: {why}",
                f.name
            ));
        }
        if !is_sha256_hex(&f.sha256) {
            p.push(format!(
                "header.paths_files[{k}].sha256 is not a SHA-256 in lowercase hex"
            ));
        }
        if next != Some(f.path_start) {
            p.push(format!(
                "header.paths_files[{k}].path_start is {}, expected {} (the files must hold \
                 the completed paths in order, each starting where the last ended)",
                f.path_start,
                next.map_or("(past the last path id)".into(), |n| n.to_string())
            ));
        }
        next = f.path_start.checked_add(f.path_count);
    }
    let listed = h
        .paths_files
        .iter()
        .try_fold(0u64, |s, f| s.checked_add(f.path_count));
    if listed != Some(h.completed) {
        p.push(format!(
            "header.paths_files hold {} paths but header.completed is {}",
            listed.map_or("more than 2^64".into(), |n| n.to_string()),
            h.completed
        ));
    }
    p
}

fn problems_result(problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("; "))
    }
}

/// Parses and verifies the header of a partial file's bytes (no file system): the format,
/// then every [`header_problems`] at once.
pub fn parse_header(bytes: &[u8]) -> Result<Header> {
    #[derive(Deserialize)]
    struct HeaderOnly {
        header: Header,
    }
    if bytes.is_empty() {
        bail!("the file is empty (the writer did not finish, or the file was damaged)");
    }
    // The whole file is parsed (a truncated one is an error); the accumulator is skipped.
    let h: HeaderOnly = serde_json::from_slice(bytes).map_err(json_error)?;
    check_format(&h.header)?;
    problems_result(header_problems(&h.header))?;
    Ok(h.header)
}

/// Parses and verifies a partial file's bytes (no file system): the header
/// ([`parse_header`]), the accumulator against its SHA-256 and the header, the scenario
/// text against its SHA-256.
pub fn parse_partial(bytes: &[u8]) -> Result<Partial> {
    parse_header(bytes)?;
    let owned: FileIn = serde_json::from_slice(bytes).map_err(json_error)?;
    let h = &owned.header;
    let acc_json = owned.accumulator.get();
    if sha256_hex(acc_json.as_bytes()) != h.accumulator_sha256 {
        bail!("the accumulator does not match its SHA-256, header.accumulator_sha256 (the file was damaged)");
    }
    let acc: Accumulator =
        serde_json::from_str(acc_json).map_err(|e| anyhow!("not a valid accumulator ({e})"))?;
    check_accumulator(&acc)?;
    if acc.report_days != h.report_days {
        bail!("accumulator.report_days differ from header.report_days");
    }
    if acc.paths != h.completed {
        bail!(
            "accumulator.paths is {} but header.completed is {}",
            acc.paths,
            h.completed
        );
    }
    if sha256_hex(&owned.scenario_toml) != h.provenance.scenario_sha256 {
        bail!("scenario_toml does not match its SHA-256, header.scenario_sha256 (the file was damaged)");
    }
    Ok(Partial {
        header: owned.header,
        scenario_toml: owned.scenario_toml,
        acc,
    })
}

/// Reads only the header of a partial file ([`parse_header`]); errors name the file.
pub fn read_header(path: &Path) -> Result<Header> {
    let read = || parse_header(&untrusted::read_capped(path, MAX_PARTIAL_BYTES)?);
    read().with_context(|| format!("cannot use partial result {}", path.display()))
}

/// Reads and checks a partial file ([`parse_partial`]); every error names it.
pub fn read_partial(path: &Path) -> Result<Partial> {
    let read = || parse_partial(&untrusted::read_capped(path, MAX_PARTIAL_BYTES)?);
    read().with_context(|| format!("cannot use partial result {}", path.display()))
}

/// The per-path parts of an accumulator, by name.
fn per_path_parts(acc: &Accumulator) -> [(&'static str, &MetricAcc); 10] {
    let p = &acc.per_path;
    [
        ("log_return", &p.log_return),
        ("max_drawdown", &p.max_drawdown),
        ("price_retained", &p.price_retained),
        ("final_price", &p.final_price),
        ("final_circulating", &p.final_circulating),
        ("er_ratio", &p.er_ratio),
        ("minted", &p.minted),
        ("burned", &p.burned),
        ("spiral_day", &p.spiral_day),
        ("breakeven_day", &p.breakeven_day),
    ]
}

/// Every disagreement between an accumulator read from a file and the per-path rows it
/// claims to summarise, each naming its field. The rows determine exactly the path counts
/// (`paths`, `spiraled`, `er_above_1`, `broke_even`, `nonfinite_paths`) and, of every
/// per-path quantity, the histogram and the moments' `n`, `nonfinite`, `min` and `max`:
/// those must be identical. The means and `m2` depend on the order the paths were folded
/// in (engine chunks, GPU passes) and agree to rounding: within 1e-8 of the largest
/// magnitude (means) and 1e-7 of `n` times its square (`m2`), far looser than any
/// summation order and far tighter than any edit that matters. The per-report-day series
/// are not in the rows and cannot be checked against them.
pub fn rows_problems(acc: &Accumulator, records: &[PathRecord]) -> Vec<String> {
    let mut fresh = Accumulator::new(Vec::new());
    for r in records {
        fresh.add_path(r);
    }
    let mut p = Vec::new();
    for (name, have, want) in [
        ("paths", acc.paths, fresh.paths),
        ("spiraled", acc.spiraled, fresh.spiraled),
        ("er_above_1", acc.er_above_1, fresh.er_above_1),
        ("broke_even", acc.broke_even, fresh.broke_even),
        (
            "nonfinite_paths",
            acc.nonfinite_paths,
            fresh.nonfinite_paths,
        ),
    ] {
        if have != want {
            p.push(format!(
                "accumulator.{name} is {have} but the path rows give {want}"
            ));
        }
    }
    for ((name, a), (_, b)) in per_path_parts(acc).into_iter().zip(per_path_parts(&fresh)) {
        let (ma, mb) = (&a.moments, &b.moments);
        let mut bad: Vec<String> = Vec::new();
        for (what, x, y) in [("n", ma.n, mb.n), ("nonfinite", ma.nonfinite, mb.nonfinite)] {
            if x != y {
                bad.push(format!("moments.{what} is {x} but the rows give {y}"));
            }
        }
        // No rows: nothing to round, everything exact.
        let (tol_mean, tol_m2) = if mb.n > 0 {
            let scale = mb.min.abs().max(mb.max.abs());
            (1e-8 * scale, 1e-7 * mb.n as f64 * scale * scale)
        } else {
            (0.0, 0.0)
        };
        for (what, x, y, tol) in [
            ("min", ma.min, mb.min, 0.0),
            ("max", ma.max, mb.max, 0.0),
            ("mean", ma.mean, mb.mean, tol_mean),
            ("m2", ma.m2, mb.m2, tol_m2),
        ] {
            let same = x == y || (x.is_nan() && y.is_nan()) || (x - y).abs() <= tol;
            if !same {
                bad.push(format!("moments.{what} is {x:e} but the rows give {y:e}"));
            }
        }
        if a.hist != b.hist {
            bad.push("hist differs from the histogram of the rows".into());
        }
        p.extend(
            bad.into_iter()
                .map(|b| format!("accumulator.per_path.{name}.{b}")),
        );
    }
    p
}

/// [`rows_problems`] as an error naming `file` (the partial whose accumulator it is).
pub fn check_rows(file: &Path, acc: &Accumulator, records: &[PathRecord]) -> Result<()> {
    problems_result(rows_problems(acc, records)).with_context(|| {
        format!(
            "cannot use partial result {}: its accumulator does not summarise the path rows it \
             lists (the file was edited, or rows from elsewhere put in its folder)",
            file.display()
        )
    })
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

/// Every disagreement between the key-value metadata of the path-rows file listed as
/// `header.paths_files[k]` and the header: the run (versions, scenario name and text, seed,
/// engine), the shard and the file's range (timings are not compared).
fn metadata_problems(meta: &HashMap<String, String>, h: &Header, k: usize) -> Vec<String> {
    let e = &h.paths_files[k];
    let p = &h.provenance;
    let scenario_sha = meta.get("tokenrisk.scenario_toml").map(sha256_hex);
    let mut problems = Vec::new();
    for (field, want, key, have) in [
        (
            "tokenrisk_version".to_string(),
            p.tokenrisk_version.clone(),
            "tokenrisk.version",
            meta.get("tokenrisk.version").cloned(),
        ),
        (
            "model_version".into(),
            p.model_version.clone(),
            "tokenrisk.model_version",
            meta.get("tokenrisk.model_version").cloned(),
        ),
        (
            "scenario".into(),
            p.scenario.clone(),
            "tokenrisk.scenario",
            meta.get("tokenrisk.scenario").cloned(),
        ),
        (
            "scenario_sha256".into(),
            p.scenario_sha256.clone(),
            "tokenrisk.scenario_toml (its SHA-256)",
            scenario_sha,
        ),
        (
            "seed".into(),
            p.seed.to_string(),
            "tokenrisk.seed",
            meta.get("tokenrisk.seed").cloned(),
        ),
        (
            "engine".into(),
            h.engine.clone(),
            "tokenrisk.engine",
            meta.get("tokenrisk.engine").cloned(),
        ),
        (
            "shard".into(),
            format!("{}/{}", h.shard, h.shards),
            "tokenrisk.shard",
            meta.get("tokenrisk.shard").cloned(),
        ),
        (
            "kind".into(),
            h.kind.clone(),
            "tokenrisk.partial",
            meta.get("tokenrisk.partial").cloned(),
        ),
        (
            format!("paths_files[{k}].path_start"),
            e.path_start.to_string(),
            "tokenrisk.path_start",
            meta.get("tokenrisk.path_start").cloned(),
        ),
        (
            format!("paths_files[{k}].path_count"),
            e.path_count.to_string(),
            "tokenrisk.path_count",
            meta.get("tokenrisk.path_count").cloned(),
        ),
    ] {
        match have {
            None => problems.push(format!(
                "header.{field} is {want}, but the rows' Parquet metadata has no {key}"
            )),
            Some(v) if v != want => problems.push(format!(
                "header.{field} is {want}, but the rows' Parquet metadata {key} is {v}"
            )),
            Some(_) => {}
        }
    }
    problems
}

/// Reads the per-path rows listed as `header.paths_files[k]` of the partial file
/// `partial_file` (in its folder): a regular file opened without following links, of the
/// size and SHA-256 recorded, whose Parquet metadata agrees with the header
/// (`metadata_problems`) and which holds exactly the path ids it should, in order. Errors
/// name the rows file and the partial file.
pub fn read_paths_file(partial_file: &Path, header: &Header, k: usize) -> Result<Vec<PathRecord>> {
    let entry = &header.paths_files[k];
    let dir = partial_file.parent().unwrap_or(Path::new("."));
    // The header was verified on reading ([`header_problems`]); checked again here because
    // a header can be built by other code.
    if let Some(why) = untrusted::check_file_name(&entry.name) {
        bail!(
            "cannot use partial result {}: header.paths_files[{k}].name {:?} is not allowed: {why}",
            partial_file.display(),
            entry.name
        );
    }
    let path = dir.join(&entry.name);
    let cap = entry
        .path_count
        .saturating_mul(MAX_ROW_BYTES)
        .saturating_add(MAX_ROWS_FIXED_BYTES);
    let read = || -> Result<Vec<PathRecord>> {
        if entry.bytes > cap {
            bail!(
                "header.paths_files[{k}].bytes is {}, more than the {cap} allowed for {} rows",
                entry.bytes,
                entry.path_count
            );
        }
        let (mut file, len) = untrusted::open_regular(&path, cap)?;
        if len != entry.bytes {
            bail!(
                "it has {len} bytes but header.paths_files[{k}].bytes is {}: truncated or replaced",
                entry.bytes
            );
        }
        let mut hasher = Sha256::new();
        let hashed = std::io::copy(&mut (&mut file).take(entry.bytes + 1), &mut hasher)?;
        if hashed != entry.bytes {
            bail!("it changed size while it was read");
        }
        if hex(&hasher.finalize()) != entry.sha256 {
            bail!(
                "its SHA-256 differs from header.paths_files[{k}].sha256: the file was damaged \
                 or replaced"
            );
        }
        file.seek(SeekFrom::Start(0))?;
        let meta: HashMap<String, String> = SerializedFileReader::new(file.try_clone()?)?
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .into_iter()
            .flatten()
            .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
            .collect();
        problems_result(metadata_problems(&meta, header, k))?;
        let records = pq::read_paths(file)?;
        if records.len() as u64 != entry.path_count {
            bail!(
                "it holds {} rows, expected {} (header.paths_files[{k}].path_count)",
                records.len(),
                entry.path_count
            );
        }
        for (i, r) in records.iter().enumerate() {
            if r.path != entry.path_start + i as u64 {
                bail!(
                    "row {i} is path {}, expected path {} (rows must be the ids {}..{} in order)",
                    r.path,
                    entry.path_start + i as u64,
                    entry.path_start,
                    entry.path_start + entry.path_count
                );
            }
        }
        Ok(records)
    };
    read().with_context(|| {
        format!(
            "cannot use path rows {} (header.paths_files[{k}] of {})",
            path.display(),
            partial_file.display()
        )
    })
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
            emitted: 10.0,
            vested: 0.0,
            burned: 0.0,
            emission_usd: 1.0,
            revenue_usd: 0.0,
            er_ratio: f64::INFINITY,
            final_capacity: 1.0,
            min_capacity: 1.0,
            final_demand: 1.0,
            breakeven_day: None,
            enacted: Default::default(),
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

    /// Rows of varied magnitudes, some spiraled, some breaking even.
    fn rows(n: u64) -> Vec<PathRecord> {
        (0..n)
            .map(|i| {
                let x = (i as f64 * 0.37).sin() * 10f64.powi((i % 7) as i32 - 3);
                PathRecord {
                    path: i,
                    spiral: i % 5 == 0,
                    spiral_day: (i % 5 == 0).then_some(i as u32 % 300),
                    breakeven_day: (i % 3 == 0).then_some(7),
                    final_price: x.abs(),
                    log_return: x,
                    max_drawdown: (x.abs() / 1e4).min(1.0),
                    er_ratio: 1.0 + x,
                    minted: 1e6 + x,
                    ..PathRecord::default()
                }
            })
            .collect()
    }

    #[test]
    fn the_accumulator_must_summarise_the_rows() {
        let records = rows(3000);
        // Folded in uneven chunks, as engines and shards do: agrees (means to rounding).
        let mut acc = Accumulator::new(vec![0]);
        for chunk in records.chunks(701) {
            let mut part = Accumulator::new(vec![0]);
            for r in chunk {
                part.add_path(r);
            }
            acc.merge(&part);
        }
        assert!(rows_problems(&acc, &records).is_empty());
        // Every exactly determined part is checked exactly, and named.
        let mut e = acc.clone();
        e.broke_even += 1;
        assert_eq!(
            rows_problems(&e, &records),
            ["accumulator.broke_even is 1001 but the path rows give 1000"]
        );
        let mut e = acc.clone();
        e.per_path.spiral_day.hist.add(5.0);
        let p = rows_problems(&e, &records);
        assert_eq!(
            p,
            ["accumulator.per_path.spiral_day.hist differs from the histogram of the rows"]
        );
        let mut e = acc.clone();
        e.per_path.minted.moments.max = f64::from_bits(e.per_path.minted.moments.max.to_bits() + 1);
        let p = rows_problems(&e, &records);
        assert!(
            p.len() == 1 && p[0].starts_with("accumulator.per_path.minted.moments.max"),
            "{p:?}"
        );
        let mut e = acc.clone();
        // (1e-6 of the largest magnitude, 1e3: above the 1e-8 allowed for rounding.)
        e.per_path.log_return.moments.mean += 1e-3;
        let p = rows_problems(&e, &records);
        assert!(
            p.len() == 1 && p[0].starts_with("accumulator.per_path.log_return.moments.mean"),
            "{p:?}"
        );
        // Rows missing: the counts say so.
        assert!(rows_problems(&acc, &records[1..])
            .iter()
            .any(|p| p == "accumulator.paths is 3000 but the path rows give 2999"));
    }

    #[test]
    fn header_problems_are_all_named_at_once() {
        let p = crate::scenario::preset("render_bme").unwrap();
        let s = crate::scenario::parse(p.toml, p.file).unwrap();
        let mut h = Header::new(
            "shard",
            &s,
            (0, 1),
            PathRange {
                start: 0,
                count: 10,
            },
            vec![0],
            "cpu",
            "test",
        );
        h.accumulator_sha256 = "0".repeat(64);
        h.completed = 10;
        let file = |name: &str, start: u64, count: u64| PathsFile {
            name: name.into(),
            path_start: start,
            path_count: count,
            bytes: 1,
            sha256: "0".repeat(64),
        };
        h.paths_files = vec![file("a.parquet", 0, 4), file("b.parquet", 4, 6)];
        assert_eq!(header_problems(&h), Vec::<String>::new());
        h.paths_files = vec![file("../a.parquet", 0, 4), file("/b", 5, 6)];
        h.completed = 9;
        let p = header_problems(&h);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].starts_with("header.paths_files[0].name \"../a.parquet\""));
        assert!(p[1].starts_with("header.paths_files[1].name \"/b\""));
        assert!(p[2].starts_with("header.paths_files[1].path_start is 5, expected 4"));
        assert_eq!(
            p[3],
            "header.paths_files hold 10 paths but header.completed is 9"
        );
    }
}
