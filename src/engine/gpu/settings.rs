//! The GPU engine's knobs that are not part of a scenario: how long one wait may take, how
//! many paths one batch may hold, the kernel, and the fault to inject (tests), read from the environment
//! once per run so that a bad value is an error naming the variable, the value and what is
//! allowed (all problems at once), never silently ignored.
//!
//! Faults are injected here rather than by a mock device so that each one goes through the
//! real failure path of wgpu on a real adapter (lavapipe in CI): the device is destroyed, a
//! dispatch carries an invalid offset, a read-back maps a destroyed buffer. The stall alone is
//! the host's: a wait that is treated as never finishing and so runs out after the timeout
//! (a real kernel that never ends could not be stopped on lavapipe, and wgpu's own timeout is
//! tested by `tests/gpu.rs`). What the engine makes of each is what a user sees on a failing
//! card.

use super::{GpuError, FUSED_ROWS_PER_DISPATCH};
use std::time::Duration;

/// Default limit on one wait for the GPU.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// `TOKENRISK_GPU_TIMEOUT_S`: seconds one wait may take.
pub const TIMEOUT_VAR: &str = "TOKENRISK_GPU_TIMEOUT_S";
/// `TOKENRISK_GPU_BATCH_PATHS`: most paths resident on a device at once.
pub const BATCH_VAR: &str = "TOKENRISK_GPU_BATCH_PATHS";
/// `TOKENRISK_GPU_FAULT`: `KIND@K`, a fault injected into the run (tests).
pub const FAULT_VAR: &str = "TOKENRISK_GPU_FAULT";
/// `TOKENRISK_GPU_KERNEL`: the kernel ([`Settings::kernel_from`]).
pub const KERNEL_VAR: &str = "TOKENRISK_GPU_KERNEL";

/// How a run's device fails on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The device is lost (destroyed) just before submission K.
    Lose,
    /// Submission K carries an invalid dispatch (a validation error).
    Validation,
    /// Submission K never finishes (a GPU that stalls): its wait runs out after the timeout.
    Stall,
    /// Read-back K maps a buffer that no longer exists (a failed map).
    Map,
}

impl FaultKind {
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Lose,
        FaultKind::Validation,
        FaultKind::Stall,
        FaultKind::Map,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Lose => "lose",
            FaultKind::Validation => "validation",
            FaultKind::Stall => "stall",
            FaultKind::Map => "map",
        }
    }
}

/// A fault at the `at`-th (0-based) submission of simulation work (`lose`, `validation`,
/// `stall`) or read-back (`map`) of each device's part of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub at: u64,
}

impl Fault {
    /// Parses `KIND@K`.
    pub fn parse(text: &str) -> Result<Fault, String> {
        let allowed = || {
            let kinds: Vec<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
            format!(
                "allowed: KIND@K with KIND one of {} and K a submission number (0, 1, ...)",
                kinds.join(", ")
            )
        };
        let (kind, at) = text.trim().split_once('@').ok_or_else(allowed)?;
        let kind = FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == kind.trim())
            .ok_or_else(allowed)?;
        let at = at.trim().parse::<u64>().map_err(|_| allowed())?;
        Ok(Fault { kind, at })
    }

    /// True when this fault is of `kind` and due at count `n`.
    pub fn due(&self, kind: FaultKind, n: u64) -> bool {
        self.kind == kind && self.at == n
    }
}

/// The knobs of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The limit on one wait for the GPU.
    pub timeout: Duration,
    /// At most this many paths resident on a device at once (`None`: as many as the budgets
    /// and the adapter's limits allow).
    pub batch_paths: Option<u64>,
    /// (`Budgets::rows_per_dispatch`, `Budgets::hist_preaggregate`) of the kernel.
    pub kernel: (u32, bool),
    pub fault: Option<Fault>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            timeout: DEFAULT_TIMEOUT,
            batch_paths: None,
            kernel: (1, false),
            fault: None,
        }
    }
}

impl Settings {
    /// From `TOKENRISK_GPU_TIMEOUT_S`, `TOKENRISK_GPU_BATCH_PATHS`, `TOKENRISK_GPU_KERNEL` and
    /// `TOKENRISK_GPU_FAULT`.
    pub fn from_env() -> Result<Settings, GpuError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Settings::from_env`] over any lookup (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, GpuError> {
        let mut out = Settings::default();
        let mut problems = Vec::new();
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = set(TIMEOUT_VAR) {
            match v.trim().parse::<f64>() {
                Ok(s) if s > 0.0 && s.is_finite() && s <= 1e6 => {
                    out.timeout = Duration::from_secs_f64(s)
                }
                _ => problems.push(format!(
                    "{TIMEOUT_VAR}={v:?}: allowed: seconds, a number above 0 and at most 1e6"
                )),
            }
        }
        if let Some(v) = set(BATCH_VAR) {
            match v.trim().parse::<u64>() {
                Ok(n) if n >= 1 => out.batch_paths = Some(n),
                _ => problems.push(format!(
                    "{BATCH_VAR}={v:?}: allowed: a whole number of paths, at least 1"
                )),
            }
        }
        match Settings::kernel_from(get(KERNEL_VAR).as_deref()) {
            Ok(k) => out.kernel = k,
            Err(GpuError::Config(problem)) => problems.push(problem),
            Err(e) => problems.push(e.to_string()),
        }
        if let Some(v) = set(FAULT_VAR) {
            match Fault::parse(&v) {
                Ok(f) => out.fault = Some(f),
                Err(allowed) => problems.push(format!("{FAULT_VAR}={v:?}: {allowed}")),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(GpuError::Config(problems.join("; ")))
        }
    }

    /// (`rows_per_dispatch`, `hist_preaggregate`) of a `TOKENRISK_GPU_KERNEL` value: a
    /// comma-separated set of `preagg` and `fused`; unset, empty or `split` is the default
    /// kernel (split, plain atomics).
    pub fn kernel_from(value: Option<&str>) -> Result<(u32, bool), GpuError> {
        let (mut split, mut fused, mut preagg) = (false, false, false);
        for item in value.unwrap_or("").split(',').map(str::trim) {
            match item {
                "" => {}
                "split" => split = true,
                "fused" => fused = true,
                "preagg" => preagg = true,
                _ => {
                    return Err(GpuError::Config(format!(
                        "{KERNEL_VAR}={:?}: unknown kernel option {item:?}; allowed: a comma-separated set of \"preagg\" and \"fused\", or \"split\" (the default)",
                        value.unwrap_or("")
                    )))
                }
            }
        }
        if split && fused {
            return Err(GpuError::Config(format!(
                "{KERNEL_VAR}={:?}: \"split\" and \"fused\" exclude each other",
                value.unwrap_or("")
            )));
        }
        Ok((if fused { FUSED_ROWS_PER_DISPATCH } else { 1 }, preagg))
    }

    /// What a user can try after a failure on the device.
    pub fn hint(&self) -> String {
        let batch = match self.batch_paths {
            Some(n) => format!("now {n}"),
            None => "e.g. 100000".to_string(),
        };
        format!(
            "to go on: rerun with --backend cpu (same results), or with fewer paths per GPU \
             batch ({BATCH_VAR}, {batch}), or allow longer waits ({TIMEOUT_VAR}, now {} s)",
            self.timeout.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, GpuError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn unset_is_the_default() {
        assert_eq!(from(&[]).unwrap(), Settings::default());
        assert_eq!(from(&[(FAULT_VAR, " ")]).unwrap(), Settings::default());
    }

    #[test]
    fn values_are_read() {
        let s = from(&[
            (TIMEOUT_VAR, "2.5"),
            (BATCH_VAR, "4096"),
            (KERNEL_VAR, "fused,preagg"),
            (FAULT_VAR, "stall@3"),
        ])
        .unwrap();
        assert_eq!(s.kernel, (FUSED_ROWS_PER_DISPATCH, true));
        assert_eq!(s.timeout, Duration::from_millis(2500));
        assert_eq!(s.batch_paths, Some(4096));
        assert_eq!(
            s.fault,
            Some(Fault {
                kind: FaultKind::Stall,
                at: 3
            })
        );
        for k in FaultKind::ALL {
            assert_eq!(Fault::parse(&format!("{}@0", k.name())).unwrap().kind, k);
        }
    }

    /// Every bad value is named, with its variable and what is allowed, in one error.
    #[test]
    fn bad_values_are_all_named() {
        let e = from(&[
            (TIMEOUT_VAR, "-1"),
            (BATCH_VAR, "0"),
            (KERNEL_VAR, "fast"),
            (FAULT_VAR, "melt@2"),
        ])
        .unwrap_err()
        .to_string();
        for want in [
            "TOKENRISK_GPU_TIMEOUT_S=\"-1\"",
            "above 0",
            "TOKENRISK_GPU_BATCH_PATHS=\"0\"",
            "at least 1",
            "TOKENRISK_GPU_KERNEL=\"fast\"",
            "TOKENRISK_GPU_FAULT=\"melt@2\"",
            "lose, validation, stall, map",
        ] {
            assert!(e.contains(want), "{want:?} missing from {e}");
        }
        for bad in ["lose", "lose@", "lose@x", "@3", "lose@-1"] {
            assert!(Fault::parse(bad).is_err(), "{bad}");
        }
    }
}
