//! `tokenrisk merge PARTS... --out DIR`: the shards of a run merged into the outputs a
//! single run writes (see `scale::merge`).

use super::print;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Shard folders (`shard-I-of-N`, each holding `partial.json`), or folders containing
    /// them (e.g. OUT/<name>/).
    #[arg(required = true)]
    parts: Vec<PathBuf>,
    /// Output root; the merged run is written to OUT/<scenario.name>/, as `tokenrisk run`
    /// writes it.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Merge shards that ran on different engines (CPU and GPU); refused by default.
    #[arg(long)]
    allow_mixed_engines: bool,
}

pub fn cmd_merge(args: MergeArgs) -> Result<i32> {
    let t0 = Instant::now();
    let m = crate::scale::merge::merge_to(&args.parts, args.allow_mixed_engines, &args.out)?;
    let total = t0.elapsed().as_secs_f64();
    // "with outputs": the shards' simulation plus this merge.
    let sim = m.result.output.simulate_time.as_secs_f64();
    print::summary(&m.result, sim + total);
    let merging = m.merge_time.as_secs_f64();
    println!(
        "  merged {} shard{} ({} paths) in {:.2} s ({:.2} s reading and merging, {:.2} s writing)",
        m.shards,
        if m.shards == 1 { "" } else { "s" },
        m.result.summary.paths,
        total,
        merging,
        total - merging
    );
    println!("  wrote {}", m.written.dir.display());
    Ok(0)
}
