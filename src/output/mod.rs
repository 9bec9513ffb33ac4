//! Output files (placeholder until the output module lands).
