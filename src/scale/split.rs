//! How a run is cut into shards: shard `I` of `N` and the path ids it holds. Its own module,
//! below the shard runs, checkpointed runs and merges that all use it: shard runs use
//! checkpointed runs, and a split kept in either would make the two import each other.
//!
//! Shard `I` of `N` (0-based) over `P` paths simulates the path ids `start .. start + count`
//! with `count = P / N + (1 if I < P % N)` and `start = I * (P / N) + min(I, P % N)`: the
//! first `P % N` shards get one extra path, and the shards tile `0 .. P` in order. Path ids
//! address the Philox counters, so a shard's per-path results are exactly those of the same
//! ids in the unsharded run.

use crate::engine::PathRange;
use anyhow::{anyhow, bail, Result};

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
}
