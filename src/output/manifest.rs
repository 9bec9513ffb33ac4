//! `manifest.json`: the human- and tool-readable index of a run directory (ARCHITECTURE.md
//! "Output contract": version, scenario hash, seed, paths, backend and adapter name,
//! timings, files with row counts).
//!
//! Invariants:
//! - Written last, after every file it lists is in place, so a manifest implies complete
//!   data files; `files` lists each Parquet file with the row count its writer reported and
//!   its size on disk.
//! - `scenario_sha256` is the lowercase hex SHA-256 of the scenario file text exactly as
//!   read (`Scenario::source_toml`), so a run can be matched to its input byte for byte.
//! - `started_at` is RFC 3339 in UTC with whole seconds (`YYYY-MM-DDTHH:MM:SSZ`,
//!   [`super::clock::rfc3339_utc`]).
//! - `timings` holds every figure that measures time (`summary.parquet` held the
//!   throughput and the simulation time before; see [`Timings`]).
//! - Field names are a contract for tools; new fields may be added, none renamed.

use super::MODEL_VERSION;
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where a result came from, as every file of it says it (manifest, partial file, Parquet
/// metadata): the versions, the scenario (name and SHA-256 of its text as run), the seed and
/// the run's path count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub tokenrisk_version: String,
    pub model_version: String,
    pub scenario: String,
    pub scenario_sha256: String,
    pub seed: u64,
    pub paths: u64,
}

impl Provenance {
    /// A run of `s` (its text as run, overlays included) with `seed` and `paths`.
    pub fn new(s: &Scenario, seed: u64, paths: u64) -> Provenance {
        Provenance {
            tokenrisk_version: env!("CARGO_PKG_VERSION").to_string(),
            model_version: MODEL_VERSION.to_string(),
            scenario: s.scenario.name.clone(),
            scenario_sha256: sha256_hex(&s.source_toml),
            seed,
            paths,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Engine name ("cpu" / "gpu").
    pub backend: String,
    /// Adapter / device name.
    pub device: String,
    pub started_at: String,
    pub timings: Timings,
    pub files: Vec<FileEntry>,
}

/// Seconds; `total_s` is wall time from `started_at` to the end of writing (at least
/// `simulate_s + write_s`). The run's only record of how fast it went: the Parquet files
/// hold no timing, so that they are the same bytes whatever the machine's speed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub simulate_s: f64,
    pub write_s: f64,
    pub total_s: f64,
    /// Paths times steps over `simulate_s`; null where the time was not positive, and absent
    /// from manifests written before it moved here from `summary.parquet`.
    #[serde(default)]
    pub path_steps_per_s: Option<f64>,
}

/// Path-steps per second of simulation; None when the time is not positive.
pub fn path_steps_per_s(paths: u64, steps: u32, simulate_seconds: f64) -> Option<f64> {
    (simulate_seconds > 0.0).then(|| paths as f64 * steps as f64 / simulate_seconds)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
}

/// Lowercase hex SHA-256 of `bytes` (a text, or a file's bytes).
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(bytes.as_ref()))
}

/// Lowercase hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Manifest {
    pub fn to_json(&self) -> anyhow::Result<String> {
        let mut s = serde_json::to_string_pretty(self)?;
        s.push('\n');
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn path_steps_rate() {
        assert_eq!(path_steps_per_s(10, 100, 2.0), Some(500.0));
        assert_eq!(path_steps_per_s(10, 100, 0.0), None);
    }
}
