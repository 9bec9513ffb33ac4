//! Bundled scenarios in `data/scenarios/`, embedded in the binary so `tokenrisk presets`
//! and `tokenrisk run bittensor_halving` work from any directory.
