//! Calibration: the market's stochastic processes fitted to real price histories, so a
//! scenario's `[market]` block can say where its volatility came from.
//!
//! Shaped as three steps a user can see one by one: `read` turns an untrusted CSV in one of
//! the layouts users download into a clean `Series` (every dropped row and suspicious print
//! listed, nothing silent), `series` turns it into log-increments over the true time between
//! observations, and `fit` estimates each model by maximum likelihood with standard errors
//! whose parameters mean exactly what `docs/MODEL.md`'s `[market]` keys mean. Writing the
//! results (fragment, tables, page) belongs to the layers above.
//!
//! It sits above `scenario` (a fit names the scenario keys it estimates) and below `model`'s
//! users; it never runs the engine.

pub mod fit;
pub mod fragment;
pub mod outliers;
pub mod read;
pub mod series;
