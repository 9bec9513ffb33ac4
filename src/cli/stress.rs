//! `tokenrisk stress list`: the bundled stress shapes.

use anyhow::Result;

pub fn cmd_list() -> Result<i32> {
    print!("{}", crate::scenario::overlay::render_list()?);
    Ok(0)
}
