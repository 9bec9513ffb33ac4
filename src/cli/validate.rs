//! `tokenrisk validate`: the checks every simulating command makes before it starts
//! (`workflows::inputs`), on every file given: `ok`, or every problem of every file.

use crate::workflows::inputs::{self, Writes};
use crate::workflows::single::Overrides;

pub fn cmd_validate(files: &[String]) -> anyhow::Result<i32> {
    let mut bad = 0;
    for (f, result) in files.iter().zip(inputs::check_each(
        files,
        &Overrides::default(),
        &Writes::default(),
    )) {
        match result {
            Ok(_) => println!("{f}: ok"),
            Err(e) => {
                bad += 1;
                println!("{e}");
            }
        }
    }
    Ok(if bad == 0 { 0 } else { 1 })
}
