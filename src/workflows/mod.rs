//! What an analyst runs, as library functions that return their results in memory: a single
//! run, a sweep, a design comparison, a sensitivity analysis, a run to a target standard
//! error, a nightly batch, and the checks made before any of them starts. Writing results
//! to a folder is a separate step of each result, except for the nightly batch, whose
//! product is its folder.

pub mod backtest;
pub mod calibrate;
pub mod compare;
pub mod convergence;
pub mod counterfactual;
pub mod inputs;
pub mod nightly;
pub mod preflight;
pub mod review;
pub mod sensitivity;
pub mod single;
pub mod sweep;
