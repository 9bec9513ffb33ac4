//! Helpers shared by the integration tests: a minimal scenario builder and a quiet run.
#![allow(dead_code)]

use std::process::{Command, Output};
use tokenrisk::engine::Control;
use tokenrisk::engine::{cpu, EngineOutput, PathRange};
use tokenrisk::model::Params;
use tokenrisk::scenario::{self, Scenario};

/// A test that cannot run here (no GPU adapter, no Python peer) says so loudly on the
/// process's stderr (libtest captures `eprintln!` of passing tests, and a skip must never pass
/// silently) and returns; where the environment variable `require` is `1` (CI sets
/// `TOKENRISK_REQUIRE_GPU` and `TOKENRISK_REQUIRE_PEERS`), it fails instead.
pub fn skip(test: &str, why: &str, require: &str) {
    use std::io::Write;
    if std::env::var(require).is_ok_and(|v| v == "1") {
        panic!("{test} cannot run ({why}), and {require}=1 requires it");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n=====\nSKIPPED: {test} did not run ({why}); set {require}=1 to make this a failure\n====="
    );
}

/// The tests' base scenario (`tests/data/base_scenario.toml`): every feedback mechanism off,
/// GBM price, constant demand and cost. Tests derive theirs with [`scenario_text`] / [`set`].
pub const GBM_BASE: &str = include_str!("../data/base_scenario.toml");

pub fn parse(text: &str) -> Scenario {
    match scenario::parse(text, "test.toml") {
        Ok(s) => s,
        Err(e) => panic!("test scenario invalid: {e}"),
    }
}

/// Sets dotted `key` (e.g. `scenario.horizon_days`) of a TOML text to `value` (as TOML
/// writes it), keeping the rest of the text.
pub fn set(text: &str, key: &str, value: &str) -> String {
    tokenrisk::scenario::keys::set_in_toml(text, key, value)
        .unwrap_or_else(|e| panic!("test scenario: {key}: {e}"))
}

/// The one base scenario of the tests ([`GBM_BASE`]) with dotted keys set.
pub fn scenario_text(sets: &[(&str, &str)]) -> String {
    sets.iter()
        .fold(GBM_BASE.to_string(), |text, (k, v)| set(&text, k, v))
}

pub fn run_cpu(s: &Scenario, paths: u64) -> EngineOutput {
    let params = Params::compile(s);
    cpu::run(
        &params,
        s.scenario.seed,
        PathRange {
            start: 0,
            count: paths,
        },
        &Control::none(),
    )
    .unwrap()
}

/// A command running the `tokenrisk` binary built for this test run, without the job
/// schedulers' array variables: a CI job may itself run inside a Slurm array or a
/// Kubernetes Indexed Job, and `--shard auto` reads them.
pub fn tokenrisk_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokenrisk"));
    cmd.args(args);
    for v in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_STEP",
        "JOB_COMPLETION_INDEX",
    ] {
        cmd.env_remove(v);
    }
    cmd
}

/// `run SCENARIO --paths PATHS --backend cpu -q --out OUT`: the command most tests run.
pub fn run_args<'a>(scenario: &'a str, paths: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        scenario,
        "--paths",
        paths,
        "--backend",
        "cpu",
        "-q",
        "--out",
        out,
    ]
}

/// `tokenrisk ARGS` started with its output piped (see [`tokenrisk_command`]).
pub fn spawn_tokenrisk(args: &[&str]) -> std::process::Child {
    tokenrisk_command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tokenrisk")
}

/// Waits for `child` at most `limit`; past it, kills it and fails the test saying `why` (a
/// hang guard: a command that blocks on a FIFO or reads /dev/zero never ends by itself).
pub fn wait_at_most(
    mut child: std::process::Child,
    limit: std::time::Duration,
    why: &str,
) -> Output {
    let t0 = std::time::Instant::now();
    while child.try_wait().expect("poll the child").is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().expect("reap the child");
            panic!(
                "{why}: still running after {limit:?} (killed): {}",
                text(&o)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
        .wait_with_output()
        .expect("collect the child's output")
}

/// Runs the `tokenrisk` binary built for this test run (see [`tokenrisk_command`]).
pub fn tokenrisk(args: &[&str]) -> Output {
    tokenrisk_command(args).output().expect("run tokenrisk")
}

/// A path as a command-line argument.
pub fn path_arg(p: &std::path::Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// stdout and stderr of a finished command, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A whole Parquet file as one record batch.
pub fn read_parquet(path: &std::path::Path) -> arrow::array::RecordBatch {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// The full model with the parameters the GPU and invariant tests share: halving by supply,
/// bme, token payments, every feedback on ([`full_model_text`]).
pub fn full_model_reference() -> String {
    full_model_text(
        "kind = \"halving_by_supply\"\nper_day = 5000.0",
        "kind = \"bme\"\nfee = 0.1",
        "token",
        "token",
        0.9,
        1.0,
        0.5,
        1.2,
        0.6,
        1.0,
        6.0,
        -0.5,
    )
}

/// A full-model scenario whose every mechanism is switched on with drawn parameters.
#[allow(clippy::too_many_arguments)]
pub fn full_model_text(
    emission: &str,
    burn: &str,
    currency: &str,
    quoted: &str,
    vol: f64,
    impact: f64,
    beta: f64,
    elasticity: f64,
    staked: f64,
    panic: f64,
    exit_speed: f64,
    shock_price: f64,
) -> String {
    format!(
        r#"
[scenario]
name = "prop"
horizon_days = 210
step_days = 1
report_every = 30
seed = 3

[token]
price = 5.0
issued = 5000000.0
burned = 1000.0
max_supply = 10000000.0
staked_fraction = {staked}

[emission]
{emission}
split = {{ providers = 0.5, stakers = 0.3, treasury = 0.2 }}
treasury_sell = 0.5

[payment]
currency = "{currency}"
quoted_in = "{quoted}"

[burn]
{burn}

[demand]
usd_per_day = 20000.0
growth = 0.2
volatility = 0.6
price_elasticity = {elasticity}
churn = 3.0

[market]
drift = 0.1
volatility = {vol}
depth = 0.01
impact = {impact}
impact_cap = 0.3
revenue_beta = {beta}
jumps = {{ rate = 6.0, mean = -0.1, stdev = 0.2 }}

[market.regimes]
calm_to_stress = 0.02
stress_to_calm = 0.05
stress = {{ drift = -1.0, volatility = 1.5, jump_rate = 20.0 }}

[compute]
capacity = 5000.0
capacity_floor = 1.0
capacity_cap = 1e7
cost_per_unit_day = 2.0
cost_volatility = 0.4
cost_reversion = 2.0
cost_deflation = 0.1
cost_jumps = {{ rate = 3.0, mean = 0.3, stdev = 0.2 }}
entry_speed = 2.0
exit_speed = {exit_speed}
sell_fraction = "cost"
sell_min = 0.1

[staking]
target = 0.6
panic = {panic}
speed = 4.0
unstake_sell = 0.5

[[vesting]]
name = "team"
amount = 1000000.0
cliff_days = 30
linear_days = 120
sell_fraction = 0.4

[correlation]
price_demand = 0.4
price_cost = -0.2
demand_cost = 0.1

[[shock]]
day = 40
price = {shock_price}
demand = -0.3
gpu_cost = 0.5
capacity = -0.2
"#
    )
}

/// True when a GPU adapter of any kind (lavapipe in CI) can run the GPU engine; otherwise
/// prints the SKIPPED line (or fails under `TOKENRISK_REQUIRE_GPU=1`, as in CI).
pub fn have_gpu(test: &str) -> bool {
    use tokenrisk::engine::gpu::{self, GpuError, Selection};
    match gpu::context(Selection::Any) {
        Ok(Some(ctx)) => {
            eprintln!("{test}: GPU adapter {}", ctx.description());
            true
        }
        Ok(None) => unreachable!("Selection::Any"),
        Err(GpuError::NoAdapter(why)) => {
            skip(
                test,
                &format!("no GPU adapter, install mesa-vulkan-drivers: {why}"),
                "TOKENRISK_REQUIRE_GPU",
            );
            false
        }
        Err(e) => panic!("{test}: GPU adapter present but unusable: {e}"),
    }
}
