//! The model of `docs/MODEL.md`: parameters compiled from a scenario ([`params`]), the
//! per-path state and the step function ([`step`](mod@step), written once; `shaders/simulate.wgsl`
//! mirrors it section by section), and the per-path record both engines produce
//! ([`record`]). Depends only on `scenario`, `rng`, `lanes` and `stats`.

pub mod params;
pub mod record;
pub mod step;

pub use params::Params;
pub use record::{simulate_path, EnactedDays, PathRecord};
pub use step::{emission_tokens, step, LaneState, PathState, METRICS, N_METRICS};
