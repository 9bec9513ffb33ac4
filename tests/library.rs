//! The library API, as a caller other than the CLI (a notebook binding, a service) uses it:
//! a run planned and simulated in memory gives exactly the tables `tokenrisk run` writes,
//! progress is reported, and a run can be cancelled between batches of chunks.

mod common;
use arrow::array::RecordBatch;
use common::{path_arg, read_parquet, tokenrisk};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use tokenrisk::engine::{cpu, Backend, Cancelled, Control};
use tokenrisk::scenario::{self, overlay};
use tokenrisk::workflows::single::{self, Overrides, RunPlan};

/// The overrides a command line would give: `--paths 3000 --seed 9 --shock price=-0.4@100`.
fn overrides() -> Overrides {
    Overrides {
        paths: Some(3000),
        seed: Some(9),
        shocks: vec![overlay::parse_shock("price=-0.4@100").unwrap()],
        stresses: Vec::new(),
        horizon_days: None,
    }
}

/// Issue 12, finding 4: `--horizon` sets the horizon in the scenario's text, so a 1,460-day
/// preset can be run for 1,095 days without editing files, and the text as run says so.
#[test]
fn issue12_finding_04_horizon_override_is_recorded_in_the_text() {
    let o = Overrides {
        horizon_days: Some(1095),
        ..Overrides::default()
    };
    let plan = RunPlan::new(
        scenario::resolve("bittensor_halving").unwrap(),
        &o,
        Backend::Cpu,
    )
    .unwrap();
    assert_eq!(plan.scenario.scenario.horizon_days, 1095);
    let again = scenario::parse(&plan.scenario.source_toml, "as run").unwrap();
    assert_eq!(again.scenario.horizon_days, 1095);
    // A horizon the scenario cannot have is refused with the field and what is allowed.
    let bad = Overrides {
        horizon_days: Some(0),
        ..Overrides::default()
    };
    let e = RunPlan::new(
        scenario::resolve("bittensor_halving").unwrap(),
        &bad,
        Backend::Cpu,
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("--horizon 0")
            && msg.contains("scenario.horizon_days: value 0 is out of range"),
        "{msg}"
    );
}

#[test]
fn a_run_in_memory_gives_the_tables_tokenrisk_run_writes() {
    let plan = RunPlan::new(
        scenario::resolve("render_bme").unwrap(),
        &overrides(),
        Backend::Cpu,
    )
    .unwrap();
    let result = single::run(&plan, &Control::none()).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "render_bme",
        "--paths",
        "3000",
        "--seed",
        "9",
        "--shock",
        "price=-0.4@100",
        "--backend",
        "cpu",
        "-q",
        "--out",
        path_arg(tmp.path()),
    ];
    let o = tokenrisk(&args);
    assert!(o.status.success(), "{}", common::text(&o));
    let dir = tmp.path().join("render-bme");

    let summary = result.summary_batch().unwrap();
    assert_eq!(summary, read_parquet(&dir.join("summary.parquet")));
    assert_eq!(
        result.timeseries_batch().unwrap(),
        read_parquet(&dir.join("timeseries.parquet"))
    );
    let batches: Vec<RecordBatch> = result.paths_batches().map(Result::unwrap).collect();
    let paths = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(paths.num_rows(), 3000);
    assert_eq!(paths, read_parquet(&dir.join("paths.parquet")));
    // The scenario as run, overlays included, is the one the files record.
    let meta = tokenrisk::output::read_parquet_metadata(&dir.join("paths.parquet")).unwrap();
    assert_eq!(meta["tokenrisk.scenario_toml"], result.scenario.source_toml);

    // Writing the in-memory result is the CLI's folder, table for table.
    let mine = tmp.path().join("mine");
    let written = result.write(&mine).unwrap();
    for f in ["timeseries.parquet", "paths.parquet"] {
        assert_eq!(
            std::fs::read(written.dir.join(f)).unwrap(),
            std::fs::read(dir.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn progress_is_reported_and_a_run_can_be_cancelled() {
    // Four batches of chunks, whatever the thread count (a batch is what runs between two
    // checks of the flag).
    let paths = 4 * cpu::chunks_in_flight() * cpu::CHUNK_PATHS;
    let plan = RunPlan::new(
        scenario::resolve("death_spiral_stress").unwrap(),
        &Overrides {
            paths: Some(paths),
            ..Overrides::default()
        },
        Backend::Cpu,
    )
    .unwrap();

    // Cancelled before it starts: no chunk is simulated.
    let stop = AtomicBool::new(true);
    let ctl = Control {
        progress: None,
        cancel: Some(&stop),
        ..Control::none()
    };
    let e = single::run(&plan, &ctl).err().expect("cancelled");
    assert!(e.chain().any(|c| c.is::<Cancelled>()), "{e:#}");

    // Cancelled from the progress callback after the first batch of chunks: the run stops
    // well before its paths are done, with `Cancelled` as the root cause.
    let stop = AtomicBool::new(false);
    let last = AtomicU64::new(0);
    let on_progress = |done: u64, total: u64| {
        assert_eq!(total, paths);
        last.store(done, Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
    };
    let ctl = Control {
        progress: Some(&on_progress),
        cancel: Some(&stop),
        ..Control::none()
    };
    let e = single::run(&plan, &ctl).err().expect("cancelled");
    assert!(e.chain().any(|c| c.is::<Cancelled>()), "{e:#}");
    let done = last.load(Ordering::Relaxed);
    assert!(
        done > 0 && done < paths,
        "stopped after {done} of {paths} paths"
    );

    // Uncancelled, progress rises to the total.
    let seen = Mutex::new(Vec::new());
    let record = |done: u64, _total: u64| seen.lock().unwrap().push(done);
    let ctl = Control {
        progress: Some(&record),
        cancel: None,
        ..Control::none()
    };
    let mut small = plan.clone();
    small.scenario.scenario.paths = 5000;
    single::run(&small, &ctl).unwrap();
    let seen = seen.into_inner().unwrap();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&5000));
}

#[test]
fn a_cancelled_night_writes_nothing_and_keeps_the_last_one() {
    use tokenrisk::workflows::nightly::{self, NightPlan};
    let tmp = tempfile::tempdir().unwrap();
    let scenarios = tmp.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    let calm = common::scenario_text(&[("scenario.name", "\"calm\""), ("scenario.paths", "200")]);
    std::fs::write(scenarios.join("calm.toml"), calm).unwrap();
    let reports = tmp.path().join("reports");
    let plan = NightPlan::new(
        &scenarios,
        Some("2026-03-01"),
        Overrides::default(),
        Backend::Cpu,
    )
    .unwrap();
    // A finished night of that date...
    let first = nightly::run(&plan, &reports, &Control::none(), &mut |_| {}).unwrap();
    assert_eq!(first.code, 0);
    let index = std::fs::read(first.dir.join("index.html")).unwrap();
    // ...is kept when the rerun is cancelled: the error is `Cancelled`, not a failed night.
    let stop = AtomicBool::new(true);
    let ctl = Control {
        progress: None,
        cancel: Some(&stop),
        ..Control::none()
    };
    let mut seen = 0;
    let e = nightly::run(&plan, &reports, &ctl, &mut |_| seen += 1)
        .err()
        .expect("cancelled");
    assert!(e.chain().any(|c| c.is::<Cancelled>()), "{e:#}");
    assert_eq!(
        seen, 0,
        "no scenario result is reported for a cancelled night"
    );
    assert_eq!(std::fs::read(first.dir.join("index.html")).unwrap(), index);
    let leftovers: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["2026-03-01"], "temp folders left behind");
}
