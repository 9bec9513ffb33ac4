//! Bundled scenarios in `data/scenarios/`, embedded in the binary so `tokenrisk presets`
//! and `tokenrisk run bittensor_halving` work from any directory.

pub struct Preset {
    /// File name under data/scenarios/.
    pub file: &'static str,
    pub toml: &'static str,
}

impl Preset {
    /// File name without `.toml`: the name users type.
    pub fn stem(&self) -> &'static str {
        self.file.trim_end_matches(".toml")
    }
}

macro_rules! preset {
    ($file:literal) => {
        Preset {
            file: $file,
            toml: include_str!(concat!("../data/scenarios/", $file)),
        }
    };
}

pub const ALL: &[Preset] = &[
    preset!("bittensor_halving.toml"),
    preset!("render_bme.toml"),
    preset!("fetch_inflation.toml"),
    preset!("icp_revenue_burn.toml"),
    preset!("death_spiral_stress.toml"),
];

/// A preset by stem (`bittensor_halving`), file name, or scenario-style name (`bittensor-halving`).
pub fn find(name: &str) -> Option<&'static Preset> {
    let wanted = name.trim_end_matches(".toml").replace('-', "_");
    ALL.iter().find(|p| p.stem() == wanted)
}
