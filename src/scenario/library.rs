//! The files compiled into the binary, one registry for both kinds: the bundled scenarios
//! (`data/scenarios/`, `tokenrisk presets`) and the stress library (`data/stress/`,
//! `tokenrisk stress list`), so `tokenrisk run bittensor_halving` and `--stress crash@180`
//! work from any directory.

/// One embedded file.
#[derive(Debug)]
pub struct Embedded {
    /// File name under its `data/` folder.
    pub file: &'static str,
    pub toml: &'static str,
}

impl Embedded {
    /// File name without `.toml`: the name users type.
    pub fn stem(&self) -> &'static str {
        self.file.trim_end_matches(".toml")
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

/// The bundled scenarios (`data/scenarios/`).
pub const PRESETS: &[Embedded] = &[
    embed!("scenarios", "bittensor_halving.toml"),
    embed!("scenarios", "render_bme.toml"),
    embed!("scenarios", "fetch_inflation.toml"),
    embed!("scenarios", "icp_revenue_burn.toml"),
    embed!("scenarios", "death_spiral_stress.toml"),
];

/// The bundled library of historical-style stress shapes (`data/stress/`).
pub const STRESS_SHAPES: &[Embedded] = &[
    embed!("stress", "crash.toml"),
    embed!("stress", "cost_spike.toml"),
    embed!("stress", "demand_collapse.toml"),
    embed!("stress", "exchange_failure.toml"),
    embed!("stress", "perfect_storm.toml"),
];

/// An entry of `list` by stem (`bittensor_halving`), file name, or with dashes for
/// underscores (`bittensor-halving`, the scenario-style name).
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
