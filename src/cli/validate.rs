//! `tokenrisk validate`: every problem of every file, or `ok`.

use crate::scenario;

pub fn cmd_validate(files: &[String]) -> anyhow::Result<i32> {
    let mut bad = 0;
    for f in files {
        match scenario::resolve(f) {
            Ok(_) => println!("{f}: ok"),
            Err(e) => {
                bad += 1;
                println!("{e:#}");
            }
        }
    }
    Ok(if bad == 0 { 0 } else { 1 })
}
