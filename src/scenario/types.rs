//! Serde types of the scenario format. Field names are the public contract of SCENARIO.md.
//! Defaults (documented in README.md, "Scenario defaults") are those a user would expect:
//! every optional mechanism defaults to "off".

use serde::{Deserialize, Serialize};

fn one() -> f64 {
    1.0
}
fn zero() -> f64 {
    0.0
}
fn one_u32() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub scenario: Meta,
    pub token: Token,
    pub emission: Emission,
    #[serde(default)]
    pub payment: Payment,
    #[serde(default)]
    pub burn: Burn,
    pub demand: Demand,
    pub market: Market,
    pub compute: Compute,
    #[serde(default)]
    pub staking: Staking,
    #[serde(default)]
    pub vesting: Vec<Vesting>,
    #[serde(default)]
    pub correlation: Correlation,
    #[serde(default)]
    pub spiral: Spiral,
    #[serde(default)]
    pub shock: Vec<Shock>,
    /// Changes of the design during a run (docs/SCENARIO.md `[[governance]]`).
    #[serde(default)]
    pub governance: Vec<Governance>,
    #[serde(default)]
    pub risk: Risk,
    #[serde(default)]
    pub alerts: Option<Alerts>,
    /// Thresholds of the design review (`tokenrisk review`, the report's "Design review").
    #[serde(default)]
    pub review: Review,
    /// Dotted key -> list of values; expanded by the sweep runner.
    #[serde(default)]
    pub sweep: Option<toml::Table>,
    /// The file's text as read, carried into output metadata.
    #[serde(skip)]
    pub source_toml: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub horizon_days: u32,
    #[serde(default = "one_u32")]
    pub step_days: u32,
    #[serde(default = "default_report_every")]
    pub report_every: u32,
    #[serde(default = "default_paths")]
    pub paths: u64,
    #[serde(default = "default_seed")]
    pub seed: u64,
}
fn default_report_every() -> u32 {
    7
}
fn default_paths() -> u64 {
    100_000
}
fn default_seed() -> u64 {
    42
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub price: f64,
    pub issued: f64,
    #[serde(default)]
    pub burned: f64,
    #[serde(default)]
    pub max_supply: Option<f64>,
    #[serde(default)]
    pub staked_fraction: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmissionKind {
    HalvingBySupply,
    HalvingByTime,
    Schedule,
    Inflation,
    /// The Cosmos SDK mint rule: inflation moves toward a bonded-ratio goal.
    BondedInflation,
    None,
}

impl EmissionKind {
    /// The kind as the scenario spells it.
    pub fn name(self) -> &'static str {
        match self {
            EmissionKind::HalvingBySupply => "halving_by_supply",
            EmissionKind::HalvingByTime => "halving_by_time",
            EmissionKind::Schedule => "schedule",
            EmissionKind::Inflation => "inflation",
            EmissionKind::BondedInflation => "bonded_inflation",
            EmissionKind::None => "none",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emission {
    pub kind: EmissionKind,
    #[serde(default)]
    pub per_day: Option<f64>,
    #[serde(default)]
    pub period_days: Option<f64>,
    #[serde(default)]
    pub yearly: Option<Vec<f64>>,
    #[serde(default)]
    pub decay: Option<f64>,
    #[serde(default)]
    pub annual_rate: Option<f64>,
    /// `bonded_inflation`: the floor, the ceiling and the yearly rate of change of inflation,
    /// and the bonded (staked) ratio it moves toward.
    #[serde(default)]
    pub inflation_min: Option<f64>,
    #[serde(default)]
    pub inflation_max: Option<f64>,
    #[serde(default)]
    pub inflation_rate_change: Option<f64>,
    #[serde(default)]
    pub goal_bonded: Option<f64>,
    #[serde(default)]
    pub split: Split,
    #[serde(default)]
    pub treasury_sell: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// A share left out of a written split is 0 (so `{ providers = 0.7, stakers = 0.3 }`
    /// needs no `treasury = 0`); the shares must still sum to 1.
    #[serde(default)]
    pub providers: f64,
    #[serde(default)]
    pub stakers: f64,
    #[serde(default)]
    pub treasury: f64,
}
impl Default for Split {
    fn default() -> Self {
        Split {
            providers: 1.0,
            stakers: 0.0,
            treasury: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Currency {
    #[default]
    Token,
    Stable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotedIn {
    #[default]
    Usd,
    Token,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    #[serde(default)]
    pub currency: Currency,
    #[serde(default)]
    pub quoted_in: QuotedIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BurnKind {
    #[default]
    None,
    Bme,
    RevenueBurn,
    /// Revenue buys the token, which goes to the treasury or the stakers (not burned).
    Buyback,
}

impl BurnKind {
    /// The kind as the scenario spells it.
    pub fn name(self) -> &'static str {
        match self {
            BurnKind::None => "none",
            BurnKind::Bme => "bme",
            BurnKind::RevenueBurn => "revenue_burn",
            BurnKind::Buyback => "buyback",
        }
    }
}

/// Where a buyback's tokens go (`burn.destination`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    #[default]
    Treasury,
    Stakers,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burn {
    #[serde(default)]
    pub kind: BurnKind,
    #[serde(default)]
    pub fee: Option<f64>,
    #[serde(default)]
    pub fraction: Option<f64>,
    /// `buyback` only: who receives the bought tokens (default the treasury).
    #[serde(default)]
    pub destination: Option<Destination>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    pub usd_per_day: f64,
    #[serde(default)]
    pub growth: f64,
    #[serde(default)]
    pub volatility: f64,
    #[serde(default = "one")]
    pub price_elasticity: f64,
    #[serde(default)]
    pub churn: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jumps {
    #[serde(default)]
    pub rate: f64,
    #[serde(default)]
    pub mean: f64,
    #[serde(default)]
    pub stdev: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Market {
    pub drift: f64,
    pub volatility: f64,
    #[serde(default = "default_depth")]
    pub depth: f64,
    #[serde(default)]
    pub impact: f64,
    #[serde(default = "default_impact_cap")]
    pub impact_cap: f64,
    #[serde(default = "default_half_life")]
    pub impact_half_life_days: f64,
    #[serde(default)]
    pub revenue_beta: f64,
    #[serde(default)]
    pub jumps: Jumps,
    #[serde(default)]
    pub regimes: Option<Regimes>,
}
fn default_depth() -> f64 {
    0.02
}
fn default_impact_cap() -> f64 {
    0.25
}
fn default_half_life() -> f64 {
    30.0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regimes {
    pub calm_to_stress: f64,
    pub stress_to_calm: f64,
    pub stress: StressRegime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StressRegime {
    pub drift: f64,
    pub volatility: f64,
    #[serde(default)]
    pub jump_rate: f64,
}

/// `sell_fraction = "cost"` or a number in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SellFraction {
    Fixed(f64),
    Rule(SellRule),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SellRule {
    Cost,
}

impl Default for SellFraction {
    fn default() -> Self {
        SellFraction::Rule(SellRule::Cost)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compute {
    pub capacity: f64,
    #[serde(default = "default_capacity_floor")]
    pub capacity_floor: f64,
    #[serde(default = "default_capacity_cap")]
    pub capacity_cap: f64,
    pub cost_per_unit_day: f64,
    #[serde(default)]
    pub cost_volatility: f64,
    #[serde(default)]
    pub cost_reversion: f64,
    #[serde(default)]
    pub cost_deflation: f64,
    #[serde(default)]
    pub cost_jumps: Jumps,
    #[serde(default = "one")]
    pub throughput_usd_per_unit_day: f64,
    #[serde(default)]
    pub entry_speed: f64,
    #[serde(default)]
    pub exit_speed: f64,
    #[serde(default)]
    pub sell_fraction: SellFraction,
    #[serde(default = "zero")]
    pub sell_min: f64,
    #[serde(default = "one")]
    pub fee_sell: f64,
}
fn default_capacity_floor() -> f64 {
    1.0
}
fn default_capacity_cap() -> f64 {
    1.0e12
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Staking {
    #[serde(default)]
    pub target: f64,
    #[serde(default)]
    pub panic: f64,
    #[serde(default)]
    pub speed: f64,
    #[serde(default)]
    pub unstake_sell: f64,
}
impl Default for Staking {
    fn default() -> Self {
        Staking {
            target: 0.0,
            panic: 0.0,
            speed: 0.0,
            unstake_sell: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vesting {
    #[serde(default)]
    pub name: String,
    pub amount: f64,
    #[serde(default)]
    pub cliff_days: f64,
    #[serde(default)]
    pub linear_days: f64,
    #[serde(default)]
    pub sell_fraction: f64,
    /// Who holds the tranche. The model ignores it; the design review reads it. Absent means
    /// unspecified: the allocation and cliff checks leave the tranche out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<Holder>,
}

/// Who holds a vesting tranche (`vesting[].holder`), for the design review's allocation and
/// cliff checks: the article's red flags concern team and investor tranches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holder {
    Team,
    Investors,
    Ecosystem,
    Community,
}

impl Holder {
    /// Team and investor tranches: the insiders of the article's red flags.
    pub fn is_insider(self) -> bool {
        matches!(self, Holder::Team | Holder::Investors)
    }
}

/// The design review's thresholds (`[review]`), defaulting to the article's figures where it
/// gives one (docs/SCENARIO.md cites the sentence for each).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    #[serde(default = "default_max_insider_share")]
    pub max_insider_share: f64,
    #[serde(default = "default_min_cliff_days")]
    pub min_cliff_days: f64,
    #[serde(default = "default_half")]
    pub max_widening_share: f64,
    #[serde(default = "default_half")]
    pub min_p_breakeven: f64,
    #[serde(default = "default_front_load")]
    pub max_first_year_factor: f64,
}
fn default_max_insider_share() -> f64 {
    0.20
}
fn default_min_cliff_days() -> f64 {
    365.0
}
fn default_half() -> f64 {
    0.5
}
fn default_front_load() -> f64 {
    2.0
}
impl Default for Review {
    fn default() -> Self {
        Review {
            max_insider_share: default_max_insider_share(),
            min_cliff_days: default_min_cliff_days(),
            max_widening_share: default_half(),
            min_p_breakeven: default_half(),
            max_first_year_factor: default_front_load(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correlation {
    #[serde(default)]
    pub price_demand: f64,
    #[serde(default)]
    pub price_cost: f64,
    #[serde(default)]
    pub demand_cost: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spiral {
    #[serde(default = "default_price_dd")]
    pub price_drawdown: f64,
    #[serde(default = "default_capacity_dd")]
    pub capacity_drawdown: f64,
    #[serde(default = "default_demand_dd")]
    pub demand_drawdown: f64,
    #[serde(default = "default_window")]
    pub window_days: f64,
    #[serde(default = "default_persist")]
    pub persist_days: u32,
}
fn default_price_dd() -> f64 {
    0.5
}
fn default_capacity_dd() -> f64 {
    0.5
}
fn default_demand_dd() -> f64 {
    0.3
}
fn default_window() -> f64 {
    90.0
}
fn default_persist() -> u32 {
    14
}
impl Default for Spiral {
    fn default() -> Self {
        Spiral {
            price_drawdown: default_price_dd(),
            capacity_drawdown: default_capacity_dd(),
            demand_drawdown: default_demand_dd(),
            window_days: default_window(),
            persist_days: default_persist(),
        }
    }
}

/// A shock type: when it strikes (`$when`, a day) and the relative change of each shockable
/// quantity (`x *= 1 + change`; 0 leaves it alone). One field list serves a scenario's
/// `[[shock]]` and a stress shape's `[[shock]]`, which differ only in how the day is given.
macro_rules! shock_type {
    ($(#[$m:meta])* $name:ident, $when:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub $when: u32,
            #[serde(default)]
            pub price: f64,
            #[serde(default)]
            pub demand: f64,
            #[serde(default)]
            pub gpu_cost: f64,
            #[serde(default)]
            pub capacity: f64,
        }

        impl $name {
            /// (key, change) of every shockable quantity, in [`SHOCK_KEYS`] order.
            pub fn changes(&self) -> [(&'static str, f64); 4] {
                [
                    ("price", self.price),
                    ("demand", self.demand),
                    ("gpu_cost", self.gpu_cost),
                    ("capacity", self.capacity),
                ]
            }

            /// Sets the change of `key` (one of [`SHOCK_KEYS`]); false for another key.
            pub fn set(&mut self, key: &str, change: f64) -> bool {
                match key {
                    "price" => self.price = change,
                    "demand" => self.demand = change,
                    "gpu_cost" => self.gpu_cost = change,
                    "capacity" => self.capacity = change,
                    _ => return false,
                }
                true
            }
        }
    };
}

/// The shockable quantities, as `[[shock]]` tables name them.
pub const SHOCK_KEYS: [&str; 4] = ["price", "demand", "gpu_cost", "capacity"];

shock_type! {
    /// A deterministic `[[shock]]` of a scenario, on `day`.
    Shock, day
}

shock_type! {
    /// A shock of a stress shape (`data/stress/*.toml`), `offset_days` after the day the shape
    /// is placed at.
    ShapeShock, offset_days
}

impl ShapeShock {
    /// This shock as a scenario shock on `day`.
    pub fn on_day(&self, day: u32) -> Shock {
        let mut shock = Shock {
            day,
            ..Shock::default()
        };
        for (key, change) in self.changes() {
            shock.set(key, change);
        }
        shock
    }
}

/// A change of the design during a run: when it is enacted (one rule: a `day`, a
/// `probability` within `window_days`, or a `when` condition on the path's state) and the
/// new values it `set`s (dotted keys, as `[sweep]` spells them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Governance {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub day: Option<u32>,
    #[serde(default)]
    pub probability: Option<f64>,
    #[serde(default)]
    pub window_days: Option<Vec<u32>>,
    #[serde(default)]
    pub when: Option<Trigger>,
    #[serde(default)]
    pub for_days: Option<u32>,
    #[serde(default)]
    pub delay_days: Option<u32>,
    pub set: toml::Table,
}

/// The conditions of a triggered change (`governance[].when`); all given ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Price below this fraction of the day-0 price.
    #[serde(default)]
    pub price_below: Option<f64>,
    /// Drawdown from the running maximum price above this fraction.
    #[serde(default)]
    pub drawdown_above: Option<f64>,
    #[serde(default)]
    pub staked_fraction_below: Option<f64>,
    /// Trailing emissions-to-revenue ratio above this.
    #[serde(default)]
    pub er_ratio_above: Option<f64>,
    /// Capacity below this fraction of the day-0 capacity.
    #[serde(default)]
    pub capacity_below: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    #[serde(default = "default_quantiles")]
    pub quantiles: Vec<f64>,
    #[serde(default = "default_var_levels")]
    pub var_levels: Vec<f64>,
}
fn default_quantiles() -> Vec<f64> {
    vec![0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
}
fn default_var_levels() -> Vec<f64> {
    vec![0.95, 0.99]
}
impl Default for Risk {
    fn default() -> Self {
        Risk {
            quantiles: default_quantiles(),
            var_levels: default_var_levels(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    #[serde(default)]
    pub max_spiral_probability: Option<f64>,
    #[serde(default)]
    pub max_emissions_to_revenue: Option<f64>,
}

impl Scenario {
    /// Number of simulated steps.
    pub fn steps(&self) -> u32 {
        self.scenario.horizon_days / self.scenario.step_days
    }
}
