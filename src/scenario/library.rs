//! The files compiled into the binary, one registry for both kinds: the bundled scenarios
//! (`data/scenarios/`, `tokenrisk presets`) and the stress library (`data/stress/`,
//! `tokenrisk stress list`), so `tokenrisk run bittensor_halving` and `--stress crash@180`
//! work from any directory. A scenario in a sub-folder of `data/scenarios/` is named by its
//! path there without `.toml` (`compare/halving`): the folder is its group in
//! `tokenrisk presets`, and the name says which files belong together (the compare pair).

/// One embedded file.
#[derive(Debug)]
pub struct Embedded {
    /// File name under its `data/` folder, with its sub-folder if any (`compare/bme.toml`).
    pub file: &'static str,
    pub toml: &'static str,
}

impl Embedded {
    /// File name without `.toml`: the name users type.
    pub fn stem(&self) -> &'static str {
        self.file.trim_end_matches(".toml")
    }

    /// The sub-folder it lies in (`compare`), or `""` for a file at the top of its folder.
    pub fn group(&self) -> &'static str {
        self.file.rsplit_once('/').map_or("", |(g, _)| g)
    }
}

macro_rules! embed {
    ($dir:literal, $file:literal) => {
        Embedded {
            file: $file,
            toml: include_str!(concat!("../../data/", $dir, "/", $file)),
        }
    };
}

/// The bundled scenarios (`data/scenarios/`, sub-folders included), top-level ones first.
pub const PRESETS: &[Embedded] = &[
    embed!("scenarios", "bittensor_halving.toml"),
    embed!("scenarios", "render_bme.toml"),
    embed!("scenarios", "fetch_inflation.toml"),
    embed!("scenarios", "icp_revenue_burn.toml"),
    embed!("scenarios", "death_spiral_stress.toml"),
    embed!("scenarios", "emergency_burn.toml"),
    // The design-comparison pair: `tokenrisk compare compare/halving compare/bme`.
    embed!("scenarios", "compare/halving.toml"),
    embed!("scenarios", "compare/bme.toml"),
];

/// The bundled library of historical-style stress shapes (`data/stress/`).
pub const STRESS_SHAPES: &[Embedded] = &[
    embed!("stress", "crash.toml"),
    embed!("stress", "cost_spike.toml"),
    embed!("stress", "demand_collapse.toml"),
    embed!("stress", "exchange_failure.toml"),
    embed!("stress", "perfect_storm.toml"),
];

/// An entry of `list` by stem (`bittensor_halving`, `compare/halving`), file name, or with
/// dashes for underscores (`bittensor-halving`, the scenario-style name).
pub fn find(list: &'static [Embedded], name: &str) -> Option<&'static Embedded> {
    let wanted = name.trim_end_matches(".toml").replace('-', "_");
    list.iter().find(|p| p.stem() == wanted)
}

/// A bundled scenario by name (see [`find`]).
pub fn preset(name: &str) -> Option<&'static Embedded> {
    find(PRESETS, name)
}

/// The stems of `list`, comma-separated (for messages).
pub fn names(list: &[Embedded]) -> String {
    list.iter().map(|p| p.stem()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12, "What to build" 8: the compare pair is addressable by name, grouped, and
    /// every file of `data/scenarios/` (sub-folders too) is in the registry.
    #[test]
    fn issue12_every_bundled_scenario_has_a_name() {
        let halving = preset("compare/halving").unwrap();
        assert_eq!(halving.group(), "compare");
        assert!(halving.toml.contains("name = \"compare-halving\""));
        assert_eq!(preset("compare/bme.toml").unwrap().stem(), "compare/bme");
        assert_eq!(preset("render_bme").unwrap().group(), "");
        assert!(preset("halving").is_none());
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/scenarios");
        let mut on_disk = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "toml") {
                    let rel = p.strip_prefix(dir).unwrap().to_str().unwrap().to_string();
                    on_disk.push(rel);
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = PRESETS.iter().map(|p| p.file.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }
}
