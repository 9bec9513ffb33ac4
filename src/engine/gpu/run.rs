//! The host side of a GPU run: the plan (passes, row blocks, dispatches), the dispatch loop,
//! and the reduction of what comes back into the [`Accumulator`].
//!
//! The kernel is chosen by [`Budgets::rows_per_dispatch`] and [`Budgets::hist_preaggregate`]
//! (`TOKENRISK_GPU_KERNEL`, off by default): the split kernel's dispatches end at every report
//! row ([`chunk_dispatches`]); the fused kernel's hold up to [`Plan::rows_per_dispatch`] rows
//! and may end between rows ([`fused_dispatches`]). The non-default pipelines are compiled on
//! first use ([`kernel`]).

use super::layout::{GpuDispatch, GpuParams, GpuPartial, GpuPathState};
use super::settings::{FaultKind, Settings};
use super::{shaders, Budgets, GpuContext, GpuError};
use crate::engine::{Control, EngineOutput, PathRange};
use crate::measure::{Accumulator, MetricAcc};
use crate::model::{Params, PathRecord, PathState, N_METRICS};
use crate::stats::histogram::{MAX_INDEX, MAX_TRACKED, MIN_INDEX, MIN_TRACKED};
use crate::stats::{bucket_index, Moments};
use std::time::{Duration, Instant};
use wgpu::util::DeviceExt;

/// Invocations per workgroup (`WG_SIZE` in simulate.wgsl); also the lanes per (row, metric)
/// of `block_moments`.
pub const WG_SIZE: u64 = 64;
/// Slots per sign in one (row, metric) histogram: every index `MIN_INDEX..=MAX_INDEX` plus one
/// for magnitudes above `MAX_TRACKED` (`HIST_SIGN_SLOTS` in simulate.wgsl).
pub const HIST_SIGN_SLOTS: usize = (MAX_INDEX - MIN_INDEX + 2) as usize;
/// u32 counts per (row, metric): positive, negative, zero, non-finite, and non-zero
/// magnitudes below `MIN_TRACKED` (read as zero, counted as out of range: the CPU's
/// `LogHistogram::underflow`) (`HIST_STRIDE`).
pub const HIST_STRIDE: usize = 2 * HIST_SIGN_SLOTS + 3;
pub(super) const HIST_ZERO: usize = 2 * HIST_SIGN_SLOTS;
pub(super) const HIST_NONFINITE: usize = 2 * HIST_SIGN_SLOTS + 1;
pub(super) const HIST_UNDERFLOW: usize = 2 * HIST_SIGN_SLOTS + 2;
const _: () = assert!(HIST_STRIDE == 13823);

const STATE_BYTES: u64 = std::mem::size_of::<GpuPathState>() as u64;
const PARTIAL_BYTES: u64 = std::mem::size_of::<GpuPartial>() as u64;
/// Bytes of the histograms of one report row (all metrics): 663,504.
pub const HIST_ROW_BYTES: u64 = (N_METRICS * HIST_STRIDE * 4) as u64;
/// Bytes of the folded moments of one report row (all metrics, 64 lanes).
const MOMENTS_ROW_BYTES: u64 = N_METRICS as u64 * WG_SIZE * PARTIAL_BYTES;
/// Most dispatches in one submission (each is one `GpuDispatch` slot of the uniform buffer).
const MAX_BATCH: usize = 1024;
/// `report_row` of a dispatch that ends between report rows (`NO_REPORT` in params.wgsl).
pub(super) const NO_REPORT: u32 = u32::MAX;

/// How a run is cut into passes, row blocks and dispatches (see the module docs of
/// `engine::gpu`), from the budgets and the adapter's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Paths whose state is resident at once (the `states` buffer).
    pub pass_paths: u64,
    /// Report rows whose histograms are resident at once (the `hist` buffer).
    pub rows_per_block: u32,
    /// Paths per dispatch (a multiple of 64).
    pub dispatch_paths: u64,
    /// Most steps per dispatch (the split kernel's dispatches also end at every report row).
    pub steps_per_dispatch: u32,
    /// Most report rows per dispatch: 1 for the split kernel; for the fused one
    /// [`Budgets::rows_per_dispatch`] cut so that `partials` holds that many rows of the
    /// dispatch's workgroups within `partial_bytes`, and to what `steps_per_dispatch` can reach.
    pub rows_per_dispatch: u32,
    /// Bytes of the GPU buffers (each has a host-visible staging twin of the same size, except
    /// `partial_bytes`, which never leaves the GPU).
    pub state_bytes: u64,
    pub hist_bytes: u64,
    pub moments_bytes: u64,
    pub partial_bytes: u64,
}

impl Plan {
    /// `rows` is the number of report rows simulated on the GPU (all but row 0), one every
    /// `report_every` steps (and one after the last step).
    pub fn new(
        limits: &wgpu::Limits,
        budgets: &Budgets,
        paths: u64,
        steps: u32,
        rows: u32,
        report_every: u32,
    ) -> Result<Plan, String> {
        let cap = |budget: u64| {
            budget
                .min(limits.max_storage_buffer_binding_size)
                .min(limits.max_buffer_size)
        };
        let pass_paths = paths.min(cap(budgets.state_bytes) / STATE_BYTES).max(1);
        let rows_fit = cap(budgets.hist_bytes) / HIST_ROW_BYTES;
        if rows_fit == 0 {
            return Err(format!(
                "one report row of histograms needs {HIST_ROW_BYTES} bytes of storage buffer"
            ));
        }
        let rows_per_block = (rows as u64).min(rows_fit).max(1) as u32;
        let wgs_fit = (cap(budgets.partial_bytes) / (N_METRICS as u64 * PARTIAL_BYTES)).max(1);
        let max_wgs = (limits.max_compute_workgroups_per_dimension as u64).pow(2);
        let budget = budgets.dispatch_path_steps.max(1);
        let dispatch_paths = (pass_paths.div_ceil(WG_SIZE))
            .min(wgs_fit)
            .min(max_wgs)
            .min((budget / WG_SIZE).max(1))
            * WG_SIZE;
        let steps_per_dispatch = (budget / dispatch_paths).clamp(1, steps.max(1) as u64) as u32;
        let dispatch_wgs = dispatch_paths / WG_SIZE;
        let rows_per_dispatch = if budgets.rows_per_dispatch <= 1 {
            1
        } else {
            // Steps t+1 ..= t+S hold at most ceil(S / every) multiples of `every`, plus the
            // last step's row.
            let reachable = (steps_per_dispatch as u64).div_ceil(report_every.max(1) as u64) + 1;
            (budgets.rows_per_dispatch as u64)
                .min(rows_per_block as u64)
                .min(reachable)
                .min(cap(budgets.partial_bytes) / (dispatch_wgs * N_METRICS as u64 * PARTIAL_BYTES))
                .max(1) as u32
        };
        Ok(Plan {
            pass_paths,
            rows_per_block,
            dispatch_paths,
            steps_per_dispatch,
            rows_per_dispatch,
            state_bytes: pass_paths * STATE_BYTES,
            hist_bytes: rows_per_block as u64 * HIST_ROW_BYTES,
            moments_bytes: rows_per_block as u64 * MOMENTS_ROW_BYTES,
            partial_bytes: dispatch_wgs
                * rows_per_dispatch as u64
                * N_METRICS as u64
                * PARTIAL_BYTES,
        })
    }

    /// GPU bytes allocated by a run with this plan (staging buffers included).
    pub fn device_bytes(&self) -> u64 {
        2 * (self.state_bytes + self.hist_bytes + self.moments_bytes) + self.partial_bytes
    }
}

/// Steps done when report row `row` is written.
fn steps_at_row(p: &Params, n_rows: u32, row: u32) -> u32 {
    if row + 1 >= n_rows {
        p.steps
    } else {
        row * p.report_every_steps
    }
}

/// Adds `n` copies of `x` (row 0: every path starts from the same state).
fn add_copies(acc: &mut MetricAcc, x: f64, n: u64) {
    if n == 0 {
        return;
    }
    if !x.is_finite() {
        for _ in 0..n {
            acc.add(x);
        }
        return;
    }
    acc.moments.merge(&Moments {
        n,
        mean: x,
        m2: 0.0,
        nonfinite: 0,
        min: x,
        max: x,
    });
    let m = x.abs();
    let sign = if x > 0.0 { 1 } else { -1 };
    if m < MIN_TRACKED && m > 0.0 {
        acc.hist.add_underflow(n);
    } else if m < MIN_TRACKED {
        acc.hist.add_count_at_index(0, 0, n);
    } else if m > MAX_TRACKED {
        acc.hist.add_count_at_index(sign, MAX_INDEX + 1, n);
    } else {
        acc.hist.add_count_at_index(sign, bucket_index(m), n);
    }
}

/// Merges one row block's folded moments and histograms into `acc`: the 64 lanes of each
/// (row, metric) in f64, in lane order.
fn reduce_block(
    acc: &mut Accumulator,
    moments: &[GpuPartial],
    hist: &[u32],
    row_base: u32,
    rows: u32,
) {
    let lanes = WG_SIZE as usize;
    for r in 0..rows as usize {
        for m in 0..N_METRICS {
            let mut mo = Moments::default();
            for p in &moments[(r * N_METRICS + m) * lanes..][..lanes] {
                if p.n > 0 {
                    mo.merge(&Moments {
                        n: p.n as u64,
                        mean: p.mean as f64,
                        m2: (p.m2 as f64).max(0.0),
                        nonfinite: 0,
                        min: p.min as f64,
                        max: p.max as f64,
                    });
                }
            }
            let h = &hist[(r * N_METRICS + m) * HIST_STRIDE..][..HIST_STRIDE];
            let target = &mut acc.series[(row_base as usize + r) * N_METRICS + m];
            for (j, &c) in h[..HIST_SIGN_SLOTS].iter().enumerate() {
                target
                    .hist
                    .add_count_at_index(1, MIN_INDEX + j as i32, c as u64);
            }
            for (j, &c) in h[HIST_SIGN_SLOTS..2 * HIST_SIGN_SLOTS].iter().enumerate() {
                target
                    .hist
                    .add_count_at_index(-1, MIN_INDEX + j as i32, c as u64);
            }
            target.hist.add_count_at_index(0, 0, h[HIST_ZERO] as u64);
            target.hist.add_underflow(h[HIST_UNDERFLOW] as u64);
            for _ in 0..h[HIST_NONFINITE] {
                target.hist.add(f64::NAN);
            }
            mo.nonfinite += h[HIST_NONFINITE] as u64;
            target.moments.merge(&mo);
        }
    }
}

/// Bytes between `GpuDispatch` slots: the dynamic-offset alignment.
fn dispatch_stride(ctx: &GpuContext) -> u64 {
    (std::mem::size_of::<GpuDispatch>() as u64)
        .next_multiple_of(ctx.limits.min_uniform_buffer_offset_alignment.max(1) as u64)
}

/// One dispatch: `chunk_n` paths from path id `path` (their states from slot `state_offset`),
/// steps `t..t1`, in a block of `rows_in_block` rows, reporting `n_reports` rows from slot
/// `first_slot` of the block (none: `report_row` is `NO_REPORT`).
fn dispatch(
    params: &Params,
    (path, chunk_n, state_offset): (u64, u64, u64),
    (t, t1): (u32, u32),
    rows_in_block: u32,
    (first_slot, n_reports): (u32, u32),
) -> GpuDispatch {
    GpuDispatch {
        path_lo: path as u32,
        path_hi: (path >> 32) as u32,
        n_paths: chunk_n as u32,
        state_offset: state_offset as u32,
        step_begin: t,
        step_end: t1,
        rows_in_block,
        report_row: if n_reports > 0 { first_slot } else { NO_REPORT },
        init: (t == 0) as u32,
        n_reports,
        report_every: params.report_every_steps.max(1),
        steps_total: params.steps,
    }
}

/// The dispatches covering report rows `row_start..row_end` for one chunk of paths: each ends
/// at a report row (then `report_row` is its slot in the block) or after `max_steps` steps.
#[allow(clippy::too_many_arguments)]
fn chunk_dispatches(
    params: &Params,
    n_rows: u32,
    row_start: u32,
    row_end: u32,
    path: u64,
    chunk_n: u64,
    state_offset: u64,
    max_steps: u32,
) -> Vec<GpuDispatch> {
    let mut out = Vec::new();
    for row in row_start..row_end {
        let mut t = steps_at_row(params, n_rows, row - 1);
        let end = steps_at_row(params, n_rows, row);
        while t < end {
            let t1 = (t + max_steps).min(end);
            let n_reports = (t1 == end) as u32;
            out.push(dispatch(
                params,
                (path, chunk_n, state_offset),
                (t, t1),
                row_end - row_start,
                (row - row_start, n_reports),
            ));
            t = t1;
        }
    }
    out
}

/// The dispatches of the fused kernel covering report rows `row_start..row_end` for one chunk
/// of paths: each ends after `max_steps` steps, at its `max_reports`-th report row or at the
/// end of the block, whichever comes first (so it may end between rows, and report none);
/// its `n_reports` rows start at slot `report_row` of the block.
#[allow(clippy::too_many_arguments)]
fn fused_dispatches(
    params: &Params,
    n_rows: u32,
    row_start: u32,
    row_end: u32,
    path: u64,
    chunk_n: u64,
    state_offset: u64,
    max_steps: u32,
    max_reports: u32,
) -> Vec<GpuDispatch> {
    let mut out = Vec::new();
    let mut t = steps_at_row(params, n_rows, row_start - 1);
    let end = steps_at_row(params, n_rows, row_end - 1);
    let mut row = row_start;
    while t < end {
        let mut t1 = (t + max_steps).min(end);
        let first_row = row;
        while row < row_end
            && row - first_row < max_reports.max(1)
            && steps_at_row(params, n_rows, row) <= t1
        {
            row += 1;
        }
        if row < row_end && steps_at_row(params, n_rows, row) <= t1 {
            // Another row is within reach: end at the last one reported.
            t1 = steps_at_row(params, n_rows, row - 1);
        }
        let n_reports = row - first_row;
        out.push(dispatch(
            params,
            (path, chunk_n, state_offset),
            (t, t1),
            row_end - row_start,
            (first_row - row_start, n_reports),
        ));
        t = t1;
    }
    out
}

/// The pipelines of one run's kernel (`Budgets::rows_per_dispatch`, `hist_preaggregate`).
struct Kernel {
    simulate: wgpu::ComputePipeline,
    fold: wgpu::ComputePipeline,
    fused: bool,
}

/// Slot `slot` of `GpuContext::variants`, compiling entry point `entry` of simulate.wgsl on
/// first use.
fn variant(ctx: &GpuContext, slot: usize, entry: &str) -> Result<wgpu::ComputePipeline, GpuError> {
    let mut variants = ctx.variants.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = &variants[slot] {
        return Ok(p.clone());
    }
    let p = super::compile(
        &ctx.device,
        &ctx.info,
        entry,
        shaders::SIMULATE,
        entry,
        Some(&ctx.pipeline_layout),
    )?;
    variants[slot] = Some(p.clone());
    Ok(p)
}

fn kernel(ctx: &GpuContext, budgets: &Budgets) -> Result<Kernel, GpuError> {
    let fused = budgets.rows_per_dispatch > 1;
    let simulate = match (fused, budgets.hist_preaggregate) {
        (false, false) => ctx.simulate.clone(),
        (false, true) => variant(ctx, 0, shaders::SIMULATE_PREAGG_ENTRY)?,
        (true, false) => variant(ctx, 1, shaders::SIMULATE_FUSED_ENTRY)?,
        (true, true) => variant(ctx, 2, shaders::SIMULATE_FUSED_PREAGG_ENTRY)?,
    };
    let fold = if fused {
        variant(ctx, 3, shaders::FOLD_ROWS_ENTRY)?
    } else {
        ctx.fold.clone()
    };
    Ok(Kernel {
        simulate,
        fold,
        fused,
    })
}

struct Buffers {
    dispatch: wgpu::Buffer,
    states: wgpu::Buffer,
    hist: wgpu::Buffer,
    block_moments: wgpu::Buffer,
    states_staging: wgpu::Buffer,
    hist_staging: wgpu::Buffer,
    moments_staging: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

fn buffers(ctx: &GpuContext, gp: &GpuParams, plan: &Plan) -> Buffers {
    let d = &ctx.device;
    let storage = |label: &str, size: u64| {
        d.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(16),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    };
    let staging = |label: &str, size: u64| {
        d.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(16),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    };
    let params = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("params"),
        contents: bytemuck::bytes_of(gp),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let dispatch = d.create_buffer(&wgpu::BufferDescriptor {
        label: Some("dispatches"),
        size: dispatch_stride(ctx) * MAX_BATCH as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let states = storage("states", plan.state_bytes);
    let partials = storage("partials", plan.partial_bytes);
    let hist = storage("hist", plan.hist_bytes);
    let block_moments = storage("block moments", plan.moments_bytes);
    fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
        wgpu::BindGroupEntry {
            binding,
            resource: buffer.as_entire_binding(),
        }
    }
    let bind_group = d.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("simulate"),
        layout: &ctx.simulate_layout,
        entries: &[
            entry(0, &params),
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &dispatch,
                    offset: 0,
                    size: wgpu::BufferSize::new(std::mem::size_of::<GpuDispatch>() as u64),
                }),
            },
            entry(2, &states),
            entry(3, &partials),
            entry(4, &hist),
            entry(5, &block_moments),
        ],
    });
    Buffers {
        dispatch,
        states_staging: staging("states staging", plan.state_bytes),
        hist_staging: staging("hist staging", plan.hist_bytes),
        moments_staging: staging("moments staging", plan.moments_bytes),
        states,
        hist,
        block_moments,
        bind_group,
    }
}

/// Where a run stands, for its error messages and the fault injection: submissions and
/// read-backs counted from 0, and how long the host waited for each kind of work.
struct Progress<'a> {
    settings: &'a Settings,
    submissions: u64,
    read_backs: u64,
    gpu_wait: Duration,
    read_back: Duration,
    host_reduce: Duration,
    records: Duration,
}

impl<'a> Progress<'a> {
    fn new(settings: &'a Settings) -> Progress<'a> {
        Progress {
            settings,
            submissions: 0,
            read_backs: 0,
            gpu_wait: Duration::ZERO,
            read_back: Duration::ZERO,
            host_reduce: Duration::ZERO,
            records: Duration::ZERO,
        }
    }

    fn due(&self, kind: FaultKind) -> bool {
        let n = match kind {
            FaultKind::Map => self.read_backs,
            _ => self.submissions,
        };
        self.settings.fault.is_some_and(|f| f.due(kind, n))
    }
}

/// Reads `size` bytes of `src` back (read-back `at`) and hands them to `f` as `T`s.
fn read_as<T: bytemuck::Pod, R>(
    ctx: &GpuContext,
    pr: &mut Progress,
    at: &str,
    (src, staging, size): (&wgpu::Buffer, &wgpu::Buffer, u64),
    f: impl FnOnce(&[T]) -> R,
) -> Result<R, GpuError> {
    let t = Instant::now();
    let at = format!("read-back {} ({at})", pr.read_backs);
    let fail = pr.due(FaultKind::Map);
    pr.read_backs += 1;
    let bytes = ctx.read_back(src, staging, size, &at, pr.settings, fail)?;
    pr.read_back += t.elapsed();
    match bytemuck::try_cast_slice::<u8, T>(&bytes) {
        Ok(v) => Ok(f(v)),
        Err(_) => Ok(f(&bytemuck::pod_collect_to_vec::<u8, T>(&bytes))),
    }
}

/// Runs the paths of `range` on `ctx`, cut by `budgets` (and `settings.batch_paths`).
pub fn run(
    ctx: &GpuContext,
    params: &Params,
    seed: u64,
    range: PathRange,
    ctl: &Control,
    budgets: &Budgets,
    settings: &Settings,
) -> Result<EngineOutput, GpuError> {
    let t0 = Instant::now();
    let report_days = params.report_days();
    let n_rows = report_days.len() as u32;
    let mut acc = Accumulator::new(report_days);
    let mut records = Vec::with_capacity(range.count as usize);
    let mut pr = Progress::new(settings);

    // Row 0 (day 0): the initial state, the same for every path, in f64.
    let initial = PathState::initial(params).observe();
    for (m, &x) in initial.iter().enumerate() {
        add_copies(&mut acc.series[m], x, range.count);
    }

    let mut budgets = *budgets;
    if let Some(n) = settings.batch_paths {
        budgets.state_bytes = budgets.state_bytes.min(n.saturating_mul(STATE_BYTES));
    }
    let budgets = &budgets;
    let plan = Plan::new(
        &ctx.limits,
        budgets,
        range.count,
        params.steps,
        n_rows - 1,
        params.report_every_steps,
    )
    .map_err(|message| GpuError::Limits {
        adapter: ctx.description(),
        message,
    })?;
    let kernel = kernel(ctx, budgets)?;
    let gp = GpuParams::from_params(params, seed);
    let b = buffers(ctx, &gp, &plan);
    ctx.check(
        &format!(
            "allocating {:.1} MiB of buffers",
            plan.device_bytes() as f64 / (1 << 20) as f64
        ),
        settings,
    )?;
    let stride = dispatch_stride(ctx);
    let max_dim = ctx.limits.max_compute_workgroups_per_dimension.max(1) as u64;
    let budget = budgets.dispatch_path_steps.max(1);
    let total_work = range.count as u128 * params.steps as u128;
    let mut work_done: u128 = 0;
    let passes = range.count.div_ceil(plan.pass_paths);

    let mut pass_start = 0u64;
    while pass_start < range.count {
        let pass_n = plan.pass_paths.min(range.count - pass_start);
        let pass_no = pass_start / plan.pass_paths + 1;
        let mut row_start = 1u32;
        while row_start < n_rows {
            let row_end = (row_start + plan.rows_per_block).min(n_rows);
            let rows_in_block = row_end - row_start;
            let mut clear = true;
            let mut chunk_start = 0u64;
            while chunk_start < pass_n {
                let chunk_n = plan.dispatch_paths.min(pass_n - chunk_start);
                let wgs = chunk_n.div_ceil(WG_SIZE);
                let gx = wgs.min(max_dim);
                let gy = wgs.div_ceil(gx);
                let first_path = range.start + pass_start + chunk_start;
                let dispatches = if kernel.fused {
                    fused_dispatches(
                        params,
                        n_rows,
                        row_start,
                        row_end,
                        first_path,
                        chunk_n,
                        chunk_start,
                        plan.steps_per_dispatch,
                        plan.rows_per_dispatch,
                    )
                } else {
                    chunk_dispatches(
                        params,
                        n_rows,
                        row_start,
                        row_end,
                        first_path,
                        chunk_n,
                        chunk_start,
                        plan.steps_per_dispatch,
                    )
                };
                // Submissions of up to MAX_BATCH dispatches and about `budget` path-steps.
                let mut k = 0;
                while k < dispatches.len() {
                    let mut end = k;
                    let mut work = 0u64;
                    while end < dispatches.len() && end - k < MAX_BATCH && work < budget {
                        let d = &dispatches[end];
                        work += chunk_n * (d.step_end - d.step_begin) as u64;
                        end += 1;
                    }
                    let at = format!(
                        "submission {} (pass {pass_no} of {passes}: paths {}..{}, steps {}..{})",
                        pr.submissions,
                        first_path,
                        first_path + chunk_n,
                        dispatches[k].step_begin,
                        dispatches[end - 1].step_end
                    );
                    let mut bytes = vec![0u8; (end - k) * stride as usize];
                    for (slot, d) in dispatches[k..end].iter().enumerate() {
                        let at = slot * stride as usize;
                        bytes[at..at + std::mem::size_of::<GpuDispatch>()]
                            .copy_from_slice(bytemuck::bytes_of(d));
                    }
                    ctx.queue.write_buffer(&b.dispatch, 0, &bytes);
                    // Fault injection: an offset off the uniform alignment is a validation
                    // error of the submission.
                    let skew = if pr.due(FaultKind::Validation) { 4 } else { 0 };
                    let mut enc = ctx.device.create_command_encoder(&Default::default());
                    if clear {
                        enc.clear_buffer(&b.hist, 0, None);
                        enc.clear_buffer(&b.block_moments, 0, None);
                        clear = false;
                    }
                    {
                        let mut pass = enc.begin_compute_pass(&Default::default());
                        for (slot, d) in dispatches[k..end].iter().enumerate() {
                            let offset = (slot as u64 * stride) as u32 + skew;
                            pass.set_pipeline(&kernel.simulate);
                            pass.set_bind_group(0, &b.bind_group, &[offset]);
                            pass.dispatch_workgroups(gx as u32, gy as u32, 1);
                            if d.report_row != NO_REPORT {
                                pass.set_pipeline(&kernel.fold);
                                pass.set_bind_group(0, &b.bind_group, &[offset]);
                                pass.dispatch_workgroups(N_METRICS as u32, d.n_reports, 1);
                            }
                        }
                    }
                    if pr.due(FaultKind::Lose) {
                        ctx.device.destroy();
                    }
                    let stall = pr.due(FaultKind::Stall);
                    pr.submissions += 1;
                    let t = Instant::now();
                    let index = ctx.queue.submit([enc.finish()]);
                    ctx.wait(index, &at, settings, stall)?;
                    pr.gpu_wait += t.elapsed();
                    work_done += work as u128;
                    let paths_equiv = (work_done * range.count as u128 / total_work.max(1)) as u64;
                    ctl.report(paths_equiv.min(range.count), range.count);
                    ctl.check()?;
                    k = end;
                }
                chunk_start += chunk_n;
            }
            // The block's folded moments and histograms.
            let at = format!("pass {pass_no} of {passes}, report rows {row_start}..{row_end}");
            let moments = read_as::<GpuPartial, _>(
                ctx,
                &mut pr,
                &at,
                (
                    &b.block_moments,
                    &b.moments_staging,
                    rows_in_block as u64 * MOMENTS_ROW_BYTES,
                ),
                |v| v.to_vec(),
            )?;
            let hist = read_as::<u32, _>(
                ctx,
                &mut pr,
                &at,
                (
                    &b.hist,
                    &b.hist_staging,
                    rows_in_block as u64 * HIST_ROW_BYTES,
                ),
                |h| h.to_vec(),
            )?;
            let t = Instant::now();
            reduce_block(&mut acc, &moments, &hist, row_start, rows_in_block);
            pr.host_reduce += t.elapsed();
            row_start = row_end;
        }
        // Final states: the per-path records, built by the CPU's own code.
        let at = format!("pass {pass_no} of {passes}, final states");
        let states = read_as::<GpuPathState, _>(
            ctx,
            &mut pr,
            &at,
            (&b.states, &b.states_staging, pass_n * STATE_BYTES),
            |states| states.to_vec(),
        )?;
        let t = Instant::now();
        for (i, st) in states.iter().enumerate() {
            let path = range.start + pass_start + i as u64;
            let record = PathRecord::from_state(params, path, &st.to_state());
            acc.add_path(&record);
            records.push(record);
        }
        pr.records += t.elapsed();
        pass_start += pass_n;
    }
    ctx.check("the end of the run", settings)?;
    ctl.report(range.count, range.count);
    Ok(EngineOutput {
        acc,
        records,
        engine: "gpu",
        device: ctx.description(),
        simulate_time: t0.elapsed(),
        phases: vec![
            ("GPU work (simulation and histograms)", pr.gpu_wait),
            ("read-back", pr.read_back),
            ("host reduction", pr.host_reduce),
            ("per-path records", pr.records),
        ],
    })
}

/// Runs `shaders/rng_check.wgsl` over `counters`.
pub fn rng_check(
    ctx: &GpuContext,
    counters: &[[u32; 4]],
    key: [u32; 2],
) -> Result<super::RngCheck, GpuError> {
    let pipeline = ctx.pipeline(
        "rng_check",
        super::shaders::RNG_CHECK,
        super::shaders::RNG_CHECK_ENTRY,
    )?;
    let d = &ctx.device;
    let n = counters.len();
    let size = (n.max(1) * 16) as u64;
    let key_buf = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("rng key"),
        contents: bytemuck::cast_slice(&[key[0], key[1], n as u32, 0]),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let mut padded = counters.to_vec();
    if padded.is_empty() {
        padded.push([0; 4]);
    }
    let counters_buf = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("rng counters"),
        contents: bytemuck::cast_slice(&padded),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let out = |label: &str| {
        d.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    };
    let words = out("rng words");
    let normals = out("rng normals");
    let staging = d.create_buffer(&wgpu::BufferDescriptor {
        label: Some("rng staging"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind_group = d.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("rng_check"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: key_buf.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: counters_buf.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: words.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: normals.as_entire_binding(),
            },
        ],
    });
    let mut enc = d.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups((n as u32).div_ceil(64).max(1), 1, 1);
    }
    let settings = Settings::from_env()?;
    let index = ctx.queue.submit([enc.finish()]);
    ctx.wait(index, "the random-number check", &settings, false)?;
    let mut pr = Progress::new(&settings);
    let at = "the random-number check";
    let w = read_as::<[u32; 4], _>(ctx, &mut pr, at, (&words, &staging, size), |v| {
        v[..n].to_vec()
    })?;
    let z = read_as::<[f32; 4], _>(ctx, &mut pr, at, (&normals, &staging, size), |v| {
        v[..n].to_vec()
    })?;
    Ok((w, z))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::gpu::{DISPATCH_PATH_STEPS, HIST_BUDGET, PARTIAL_BUDGET, STATE_BUDGET};

    fn limits(binding: u64, buffer: u64) -> wgpu::Limits {
        wgpu::Limits {
            max_storage_buffer_binding_size: binding,
            max_buffer_size: buffer,
            max_compute_workgroups_per_dimension: 65_535,
            ..wgpu::Limits::default()
        }
    }

    /// 10M paths x 3,650 daily steps with weekly rows, on lavapipe-like, large-GPU-like and
    /// WebGPU-default limits: every buffer within its budget and the adapter's limits, every
    /// dispatch within the grid limits and the path-step budget.
    #[test]
    fn plan_bounds_memory_for_large_runs() {
        let (paths, steps, rows) = (10_000_000u64, 3_650u32, 3_650u32 / 7 + 1);
        for (l, software) in [
            (limits(128 << 20, 2 << 30), true),
            (limits(u32::MAX as u64, 1 << 40), false),
            (wgpu::Limits::default(), false),
        ] {
            let budgets = Budgets::for_adapter(software, &Settings::default());
            let plan = Plan::new(&l, &budgets, paths, steps, rows, 7).unwrap();
            let binding = l.max_storage_buffer_binding_size.min(l.max_buffer_size);
            for bytes in [
                plan.state_bytes,
                plan.hist_bytes,
                plan.moments_bytes,
                plan.partial_bytes,
            ] {
                assert!(bytes <= binding, "{plan:?}");
            }
            assert!(plan.state_bytes <= STATE_BUDGET);
            assert!(plan.hist_bytes <= HIST_BUDGET);
            assert!(plan.partial_bytes <= PARTIAL_BUDGET);
            assert!(
                plan.device_bytes()
                    <= 2 * (STATE_BUDGET + HIST_BUDGET) + PARTIAL_BUDGET + (8 << 20)
            );
            assert!(plan.rows_per_block >= 1 && plan.rows_per_block <= rows);
            assert_eq!(plan.dispatch_paths % WG_SIZE, 0);
            assert!(plan.dispatch_paths / WG_SIZE <= 65_535u64 * 65_535);
            assert!(
                plan.dispatch_paths * plan.steps_per_dispatch as u64 <= budgets.dispatch_path_steps,
                "{plan:?}"
            );
            assert!(plan.pass_paths >= 1 && plan.pass_paths <= paths);
            eprintln!(
                "software {software}: {} passes of {} paths, blocks of {} rows, dispatches of {} paths x {} steps, {:.0} MiB on the device",
                paths.div_ceil(plan.pass_paths),
                plan.pass_paths,
                plan.rows_per_block,
                plan.dispatch_paths,
                plan.steps_per_dispatch,
                plan.device_bytes() as f64 / (1 << 20) as f64
            );
        }
        // A hardware GPU gets large dispatches (hundreds of thousands of paths).
        let big = Plan::new(
            &limits(u32::MAX as u64, 1 << 40),
            &Budgets::for_adapter(false, &Settings::default()),
            paths,
            steps,
            rows,
            7,
        )
        .unwrap();
        assert!(big.dispatch_paths >= 1 << 20, "{big:?}");
        assert!(DISPATCH_PATH_STEPS >= big.dispatch_paths);
    }

    /// Dispatches cover every step once, in order, and end at each report row with its slot.
    #[test]
    fn dispatches_cover_steps_and_rows() {
        let preset = crate::scenario::preset("bittensor_halving").unwrap();
        let mut s = crate::scenario::parse(preset.toml, preset.file).unwrap();
        s.scenario.horizon_days = 100;
        s.scenario.report_every = 7;
        let p = Params::compile(&s);
        let n_rows = p.report_days().len() as u32;
        for max_steps in [1, 3, 7, 1000] {
            for (row_start, row_end) in [(1, n_rows), (1, 4), (4, n_rows)] {
                let ds = chunk_dispatches(&p, n_rows, row_start, row_end, 5, 64, 0, max_steps);
                let mut t = steps_at_row(&p, n_rows, row_start - 1);
                let mut reported = Vec::new();
                for d in &ds {
                    assert_eq!(d.step_begin, t);
                    assert!(d.step_end > d.step_begin && d.step_end - d.step_begin <= max_steps);
                    assert_eq!(d.init, (d.step_begin == 0) as u32);
                    t = d.step_end;
                    if d.report_row != NO_REPORT {
                        assert!(p.is_report_step(d.step_end));
                        reported.push(d.report_row + row_start);
                    }
                }
                assert_eq!(t, steps_at_row(&p, n_rows, row_end - 1));
                assert_eq!(reported, (row_start..row_end).collect::<Vec<_>>());
            }
        }
    }

    /// Fused dispatches cover every step once, in order, within `max_steps`; each holds at
    /// most `max_reports` rows, exactly the report steps it covers, numbered on from the
    /// previous dispatch's; every row of the block is reported once.
    #[test]
    fn fused_dispatches_cover_steps_and_rows() {
        let preset = crate::scenario::preset("bittensor_halving").unwrap();
        let mut s = crate::scenario::parse(preset.toml, preset.file).unwrap();
        s.scenario.horizon_days = 100;
        s.scenario.report_every = 7;
        let p = Params::compile(&s);
        let n_rows = p.report_days().len() as u32;
        let mut saw_mid_row = false;
        let mut saw_many = false;
        for max_steps in [1, 3, 7, 11, 1000] {
            for max_reports in [1, 2, 3, 64] {
                for (row_start, row_end) in [(1, n_rows), (1, 4), (4, n_rows)] {
                    let ds = fused_dispatches(
                        &p,
                        n_rows,
                        row_start,
                        row_end,
                        5,
                        64,
                        0,
                        max_steps,
                        max_reports,
                    );
                    let mut t = steps_at_row(&p, n_rows, row_start - 1);
                    let mut reported = Vec::new();
                    for d in &ds {
                        assert_eq!(d.step_begin, t);
                        assert!(
                            d.step_end > d.step_begin && d.step_end - d.step_begin <= max_steps
                        );
                        assert_eq!(d.init, (d.step_begin == 0) as u32);
                        assert_eq!(
                            (d.report_every, d.steps_total),
                            (p.report_every_steps, p.steps)
                        );
                        let due: Vec<u32> = (d.step_begin + 1..=d.step_end)
                            .filter(|&done| p.is_report_step(done))
                            .collect();
                        assert_eq!(due.len() as u32, d.n_reports);
                        assert!(d.n_reports <= max_reports);
                        if d.n_reports == 0 {
                            assert_eq!(d.report_row, NO_REPORT);
                        } else {
                            assert_eq!(d.report_row + row_start, reported.len() as u32 + row_start);
                            for (k, done) in due.iter().enumerate() {
                                let row = d.report_row + row_start + k as u32;
                                assert_eq!(steps_at_row(&p, n_rows, row), *done);
                                reported.push(row);
                            }
                        }
                        saw_mid_row |= !p.is_report_step(d.step_end);
                        saw_many |= d.n_reports > 1;
                        t = d.step_end;
                    }
                    assert_eq!(t, steps_at_row(&p, n_rows, row_end - 1));
                    assert_eq!(reported, (row_start..row_end).collect::<Vec<_>>());
                }
            }
        }
        assert!(saw_mid_row && saw_many);
    }

    /// The fused kernel's rows per dispatch: the requested number, cut by the row block, by
    /// the rows a dispatch's steps can reach and by the partials budget; 1 for the split.
    #[test]
    fn plan_cuts_rows_per_dispatch() {
        let l = limits(128 << 20, 2 << 30);
        let base = Budgets {
            rows_per_dispatch: 64,
            ..Budgets::for_adapter(true, &Settings::default())
        };
        // 20,000 paths, 1,460 daily steps, weekly rows: the whole run in one dispatch.
        let plan = Plan::new(&l, &base, 20_000, 1460, 209, 7).unwrap();
        assert_eq!(plan.rows_per_dispatch, 64, "{plan:?}");
        assert_eq!(
            plan.partial_bytes,
            plan.dispatch_paths / WG_SIZE * 64 * 12 * 20
        );
        let split = Budgets {
            rows_per_dispatch: 1,
            ..base
        };
        assert_eq!(
            Plan::new(&l, &split, 20_000, 1460, 209, 7)
                .unwrap()
                .rows_per_dispatch,
            1
        );
        // Row blocks of 5 rows.
        let b = Budgets {
            hist_bytes: 5 * HIST_ROW_BYTES,
            ..base
        };
        assert_eq!(
            Plan::new(&l, &b, 20_000, 1460, 209, 7)
                .unwrap()
                .rows_per_dispatch,
            5
        );
        // 20 steps a dispatch reach at most ceil(20 / 7) + 1 rows.
        let b = Budgets {
            dispatch_path_steps: 20_032 * 20,
            ..base
        };
        let plan = Plan::new(&l, &b, 20_000, 1460, 209, 7).unwrap();
        assert_eq!(
            (plan.steps_per_dispatch, plan.rows_per_dispatch),
            (20, 4),
            "{plan:?}"
        );
        // Partials for 10 rows of the dispatch's workgroups.
        let wgs = 20_032 / WG_SIZE;
        let b = Budgets {
            partial_bytes: 10 * wgs * 12 * 20 + 100,
            ..base
        };
        let plan = Plan::new(&l, &b, 20_000, 1460, 209, 7).unwrap();
        assert_eq!(
            (plan.dispatch_paths, plan.rows_per_dispatch),
            (20_032, 10),
            "{plan:?}"
        );
        assert!(plan.partial_bytes <= b.partial_bytes);
    }
}
