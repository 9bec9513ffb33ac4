//! `tokenrisk report DIR [--out FILE]`: HTML report of a run folder, or of every run folder
//! inside DIR (see [`crate::report`]).

use crate::report;
use anyhow::{bail, Result};
use std::path::Path;

pub fn cmd_report(dir: &Path, out: Option<&Path>) -> Result<i32> {
    let written = match out {
        Some(out) => {
            if !report::is_run_dir(dir) {
                let runs = if dir.is_dir() {
                    report::run_dirs_in(dir)?.len()
                } else {
                    0
                };
                bail!(
                    "--out needs a single run folder (one holding summary.parquet); {} is not \
                     one ({runs} run folders inside it): leave --out off to report each",
                    dir.display()
                );
            }
            vec![report::write_report_to(dir, out)?]
        }
        None => report::write_reports(dir)?,
    };
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(0)
}
