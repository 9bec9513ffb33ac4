//! The GPU engine: the model of `src/model/step.rs` in WGSL (`shaders/simulate.wgsl`, one
//! path per invocation, f32 state, the same numbered sections), run through wgpu, reduced on
//! the GPU into per-report-row histograms and moments, and merged on the host into the same
//! [`Accumulator`](crate::measure::Accumulator) the CPU engine fills.
//!
//! - Same numbers as the CPU: the same Philox words; discrete decisions (regime switches,
//!   Poisson counts) compare raw words with integer thresholds derived on the host from the
//!   CPU's own comparisons ([`layout::words_below`], [`layout::poisson_thresholds`]); the
//!   per-path records are built by the CPU's own `PathRecord::from_state`. The rest is f32;
//!   `tests/gpu.rs` states the tolerances.
//! - Bounded memory and time whatever the run's size ([`Plan`], [`Budgets`]): paths in
//!   passes, report rows in blocks, dispatches that end at every report row or after a
//!   budget of path-steps, submissions that are each one timed wait
//!   (`docs/ARCHITECTURE.md`, "The GPU engine").
//! - Adapters: `WGPU_BACKEND` and `WGPU_ADAPTER_NAME` filter them; [`Selection::Auto`]
//!   (`--backend auto`) takes only hardware GPUs, [`Selection::Any`] (`--backend gpu`)
//!   software adapters too. The device is cached for the process.
//! - Failure: every wait has a timeout ([`timeout`]), device loss and validation errors are
//!   caught; all become [`GpuError`]s, never hangs or panics.

pub mod layout;
mod run;
pub mod shaders;

use super::{Cancelled, Control, EngineOutput, PathRange};
use crate::model::Params;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use run::Plan;

/// Bytes of the per-path `states` buffer of one pass: 2^21 resident paths (576 MiB since the
/// state carries the governable values; it was 256 MiB at 128 bytes a path), so a hardware
/// GPU keeps its dispatches of a million paths and more.
pub const STATE_BUDGET: u64 = (1 << 21) * std::mem::size_of::<layout::GpuPathState>() as u64;
/// Bytes of the histogram buffer of one row block.
pub const HIST_BUDGET: u64 = 128 << 20;
/// Bytes of the per-dispatch workgroup-partials buffer.
pub const PARTIAL_BUDGET: u64 = 64 << 20;
/// Largest paths x steps of one submission on a hardware GPU (well under a second).
pub const DISPATCH_PATH_STEPS: u64 = 1 << 33;
/// The same for software adapters (about a second on lavapipe with 2 cores).
pub const DISPATCH_PATH_STEPS_SOFTWARE: u64 = 1 << 25;

/// Memory and time budgets of a run, from which [`Plan::new`] cuts it (each further capped by
/// the adapter's buffer limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// `states` buffer: 288 bytes per resident path (`GpuPathState`).
    pub state_bytes: u64,
    /// `hist` buffer: 663,504 bytes per resident report row.
    pub hist_bytes: u64,
    /// Per-dispatch workgroup partials: 240 bytes per 64 paths.
    pub partial_bytes: u64,
    /// Paths x steps of one dispatch and, roughly, of one submission (one timed wait).
    pub dispatch_path_steps: u64,
    /// Most report rows of one dispatch: 1 is the split kernel (a dispatch ends at every report
    /// row), more the fused one (`TOKENRISK_GPU_KERNEL=fused`: up to this many rows reported
    /// inside the step loop, further cut by `partial_bytes` and `dispatch_path_steps`).
    pub rows_per_dispatch: u32,
    /// One histogram atomic per distinct bucket of a workgroup instead of one per path
    /// (`TOKENRISK_GPU_KERNEL=preagg`).
    pub hist_preaggregate: bool,
}

/// The environment variable that picks the kernel ([`Budgets::for_adapter`]).
pub const KERNEL_VAR: &str = "TOKENRISK_GPU_KERNEL";
/// [`Budgets::rows_per_dispatch`] of `TOKENRISK_GPU_KERNEL=fused`.
pub const FUSED_ROWS_PER_DISPATCH: u32 = 64;

impl Budgets {
    /// The budgets for a hardware or software adapter, with the kernel chosen by
    /// `TOKENRISK_GPU_KERNEL` ([`Budgets::kernel_from`]).
    pub fn for_adapter(software: bool) -> Result<Budgets, GpuError> {
        let (rows_per_dispatch, hist_preaggregate) =
            Budgets::kernel_from(std::env::var(KERNEL_VAR).ok().as_deref())?;
        Ok(Budgets {
            state_bytes: STATE_BUDGET,
            hist_bytes: HIST_BUDGET,
            partial_bytes: PARTIAL_BUDGET,
            dispatch_path_steps: if software {
                DISPATCH_PATH_STEPS_SOFTWARE
            } else {
                DISPATCH_PATH_STEPS
            },
            rows_per_dispatch,
            hist_preaggregate,
        })
    }

    /// (`rows_per_dispatch`, `hist_preaggregate`) of a `TOKENRISK_GPU_KERNEL` value: a
    /// comma-separated set of `preagg` and `fused`; unset, empty or `split` is the default
    /// kernel (split, plain atomics).
    pub fn kernel_from(value: Option<&str>) -> Result<(u32, bool), GpuError> {
        let (mut split, mut fused, mut preagg) = (false, false, false);
        for item in value.unwrap_or("").split(',').map(str::trim) {
            match item {
                "" => {}
                "split" => split = true,
                "fused" => fused = true,
                "preagg" => preagg = true,
                _ => {
                    return Err(GpuError::Config(format!(
                        "{KERNEL_VAR}={:?}: unknown kernel option {item:?}; allowed: a comma-separated set of \"preagg\" and \"fused\", or \"split\" (the default)",
                        value.unwrap_or("")
                    )))
                }
            }
        }
        if split && fused {
            return Err(GpuError::Config(format!(
                "{KERNEL_VAR}={:?}: \"split\" and \"fused\" exclude each other",
                value.unwrap_or("")
            )));
        }
        Ok((if fused { FUSED_ROWS_PER_DISPATCH } else { 1 }, preagg))
    }
}
/// Default limit on one wait for the GPU.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Errors of the GPU engine.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found ({0}); install a Vulkan driver (for a software one: apt-get install mesa-vulkan-drivers libvulkan1) or use --backend cpu")]
    NoAdapter(String),
    #[error("could not open GPU device {adapter}: {message}")]
    RequestDevice { adapter: String, message: String },
    #[error("GPU validation error on {adapter}: {message}")]
    Validation { adapter: String, message: String },
    #[error("GPU timed out on {adapter}: a submission did not finish within {timeout:?} (set TOKENRISK_GPU_TIMEOUT_S to wait longer)")]
    Timeout { adapter: String, timeout: Duration },
    #[error("GPU device lost on {adapter}: {message}")]
    DeviceLost { adapter: String, message: String },
    #[error("reading results back from GPU {adapter} failed: {message}")]
    Map { adapter: String, message: String },
    #[error("run does not fit GPU {adapter}: {message}")]
    Limits { adapter: String, message: String },
    /// The caller stopped the run ([`Control::cancel`]).
    #[error("the run was cancelled")]
    Cancelled,
    #[error("GPU settings: {0}")]
    Config(String),
}

impl From<Cancelled> for GpuError {
    fn from(_: Cancelled) -> GpuError {
        GpuError::Cancelled
    }
}

impl GpuError {
    /// As an `anyhow` error; a cancelled run becomes [`Cancelled`], as on the CPU engine.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            GpuError::Cancelled => anyhow::Error::new(Cancelled),
            e => anyhow::Error::new(e),
        }
    }
}

/// Which adapters may run the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Hardware GPUs only (discrete, integrated, virtual): `--backend auto`.
    Auto,
    /// Any adapter, software rasterisers included: `--backend gpu`.
    Any,
}

/// The limit on one wait for the GPU: `TOKENRISK_GPU_TIMEOUT_S` seconds, else
/// [`DEFAULT_TIMEOUT`].
pub fn timeout() -> Duration {
    std::env::var("TOKENRISK_GPU_TIMEOUT_S")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// An open device with the simulation pipeline compiled.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    simulate: wgpu::ComputePipeline,
    fold: wgpu::ComputePipeline,
    simulate_layout: wgpu::BindGroupLayout,
    /// The layout of every pipeline of `simulate.wgsl`, for the kernels compiled on first use.
    pipeline_layout: wgpu::PipelineLayout,
    /// The kernels of `TOKENRISK_GPU_KERNEL`, compiled on first use (`run::kernel`):
    /// [split + preagg, fused, fused + preagg, fold_rows].
    variants: Mutex<[Option<wgpu::ComputePipeline>; 4]>,
    /// Set by the device-lost callback.
    lost: Arc<Mutex<Option<String>>>,
    /// Errors caught by the uncaptured-error handler.
    errors: Arc<Mutex<Vec<String>>>,
}

impl GpuContext {
    /// "NAME (BACKEND, TYPE)", for `EngineOutput::device` and the manifest.
    pub fn description(&self) -> String {
        describe(&self.info)
    }

    pub fn is_software(&self) -> bool {
        matches!(
            self.info.device_type,
            wgpu::DeviceType::Cpu | wgpu::DeviceType::Other
        )
    }

    /// Turns a lost device or a captured error into a [`GpuError`].
    fn check(&self) -> Result<(), GpuError> {
        if let Some(message) = self.lost.lock().unwrap().clone() {
            return Err(GpuError::DeviceLost {
                adapter: self.description(),
                message,
            });
        }
        let errors = std::mem::take(&mut *self.errors.lock().unwrap());
        if !errors.is_empty() {
            return Err(GpuError::Validation {
                adapter: self.description(),
                message: errors.join("; "),
            });
        }
        Ok(())
    }

    /// Waits for `index` with the [`timeout`].
    fn wait(&self, index: wgpu::SubmissionIndex) -> Result<(), GpuError> {
        let limit = timeout();
        let polled = self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: Some(limit),
        });
        self.check()?;
        match polled {
            Ok(_) => Ok(()),
            Err(wgpu::PollError::Timeout) => Err(GpuError::Timeout {
                adapter: self.description(),
                timeout: limit,
            }),
            Err(e) => Err(GpuError::DeviceLost {
                adapter: self.description(),
                message: e.to_string(),
            }),
        }
    }

    /// Copies `size` bytes of `src` into `staging` (MAP_READ), waits and returns them.
    fn read_back(
        &self,
        src: &wgpu::Buffer,
        staging: &wgpu::Buffer,
        size: u64,
    ) -> Result<Vec<u8>, GpuError> {
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, 0, staging, 0, size);
        let index = self.queue.submit([enc.finish()]);
        let mapped: Arc<Mutex<Option<Result<(), String>>>> = Arc::new(Mutex::new(None));
        let slot = mapped.clone();
        staging.map_async(wgpu::MapMode::Read, 0..size, move |r| {
            *slot.lock().unwrap() = Some(r.map_err(|e| e.to_string()));
        });
        self.wait(index)?;
        // The map callback runs inside a poll; make sure one has run after the copy finished.
        if mapped.lock().unwrap().is_none() {
            let _ = self.device.poll(wgpu::PollType::Poll);
        }
        let outcome = mapped.lock().unwrap().take();
        let map_err = |message: String| GpuError::Map {
            adapter: self.description(),
            message,
        };
        match outcome {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(map_err(e)),
            None => {
                return Err(map_err(
                    "the buffer was not mapped after the copy finished".into(),
                ))
            }
        }
        let bytes = {
            let view = staging
                .get_mapped_range(0..size)
                .map_err(|e| map_err(e.to_string()))?;
            view.to_vec()
        };
        staging.unmap();
        Ok(bytes)
    }

    /// Compiles a WGSL module and its compute pipeline, turning validation errors into
    /// [`GpuError::Validation`].
    fn pipeline(
        &self,
        label: &str,
        source: &str,
        entry: &str,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        compile(&self.device, &self.info, label, source, entry, None)
    }
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

fn compile(
    device: &wgpu::Device,
    info: &wgpu::AdapterInfo,
    label: &str,
    source: &str,
    entry: &str,
    layout: Option<&wgpu::PipelineLayout>,
) -> Result<wgpu::ComputePipeline, GpuError> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout,
        module: &module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    });
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(GpuError::Validation {
            adapter: describe(info),
            message: e.to_string(),
        });
    }
    Ok(pipeline)
}

/// Bindings of `simulate.wgsl`: params (uniform), the dispatch (uniform, dynamic offset: one
/// submission carries many dispatches), states, partials, hist, block_moments (storage).
/// Shared by both entry points of the module (`simulate` and `fold`).
fn simulate_bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let uniform = |binding, dynamic: bool| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: dynamic,
            min_binding_size: None,
        },
        count: None,
    };
    let storage = |binding| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only: false },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("simulate"),
        entries: &[
            uniform(0, false),
            uniform(1, true),
            storage(2),
            storage(3),
            storage(4),
            storage(5),
        ],
    })
}

/// Preference order of device types; `None`: not acceptable for `sel`.
fn rank(t: wgpu::DeviceType, sel: Selection) -> Option<u8> {
    match t {
        wgpu::DeviceType::DiscreteGpu => Some(0),
        wgpu::DeviceType::IntegratedGpu => Some(1),
        wgpu::DeviceType::VirtualGpu => Some(2),
        wgpu::DeviceType::Cpu if sel == Selection::Any => Some(3),
        wgpu::DeviceType::Other if sel == Selection::Any => Some(4),
        _ => None,
    }
}

/// Picks an adapter: `WGPU_BACKEND` and `WGPU_ADAPTER_NAME` filter, [`rank`] orders. `Ok(None)`
/// when none qualifies (the error text lists what was seen).
fn pick_adapter(sel: Selection) -> Result<wgpu::Adapter, String> {
    let desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    let backends = desc.backends;
    let instance = wgpu::Instance::new(desc);
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    let wanted_name = std::env::var("WGPU_ADAPTER_NAME")
        .ok()
        .map(|n| n.to_lowercase())
        .filter(|n| !n.is_empty());
    let mut seen = Vec::new();
    let mut best: Option<(u8, wgpu::Adapter)> = None;
    for adapter in adapters {
        let info = adapter.get_info();
        seen.push(describe(&info));
        if let Some(name) = &wanted_name {
            if !info.name.to_lowercase().contains(name) {
                continue;
            }
        }
        let Some(r) = rank(info.device_type, sel) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| r < *b) {
            best = Some((r, adapter));
        }
    }
    match best {
        Some((_, a)) => Ok(a),
        None => {
            let mut why = if seen.is_empty() {
                format!("no adapters on backends {backends:?}")
            } else {
                format!("adapters seen: {}", seen.join(", "))
            };
            if let Some(n) = wanted_name {
                why.push_str(&format!("; WGPU_ADAPTER_NAME={n}"));
            }
            if sel == Selection::Auto {
                why.push_str("; software adapters are only used with --backend gpu");
            }
            Err(why)
        }
    }
}

fn open(sel: Selection) -> Result<Option<Arc<GpuContext>>, GpuError> {
    let adapter = match pick_adapter(sel) {
        Ok(a) => a,
        Err(why) => {
            return match sel {
                Selection::Auto => Ok(None),
                Selection::Any => Err(GpuError::NoAdapter(why)),
            }
        }
    };
    let info = adapter.get_info();
    let limits = adapter.limits();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("tokenrisk"),
        required_limits: limits.clone(),
        ..Default::default()
    }))
    .map_err(|e| GpuError::RequestDevice {
        adapter: describe(&info),
        message: e.to_string(),
    })?;
    let lost = Arc::new(Mutex::new(None));
    let lost_slot = lost.clone();
    device.set_device_lost_callback(move |reason, message| {
        *lost_slot.lock().unwrap() = Some(format!("{reason:?}: {message}"));
    });
    let errors = Arc::new(Mutex::new(Vec::new()));
    let error_slot = errors.clone();
    device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
        error_slot.lock().unwrap().push(e.to_string());
    }));
    let simulate_layout = simulate_bind_group_layout(&device);
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("simulate"),
        bind_group_layouts: &[Some(&simulate_layout)],
        immediate_size: 0,
    });
    let simulate = compile(
        &device,
        &info,
        "simulate",
        shaders::SIMULATE,
        shaders::SIMULATE_ENTRY,
        Some(&pipeline_layout),
    )?;
    let fold = compile(
        &device,
        &info,
        "fold",
        shaders::SIMULATE,
        shaders::FOLD_ENTRY,
        Some(&pipeline_layout),
    )?;
    Ok(Some(Arc::new(GpuContext {
        device,
        queue,
        info,
        limits,
        simulate,
        fold,
        simulate_layout,
        pipeline_layout,
        variants: Mutex::new([None, None, None, None]),
        lost,
        errors,
    })))
}

/// Open devices, one per selection, reused across runs (shader compilation is slow on
/// software adapters). A context that failed is removed.
static CONTEXTS: Mutex<[Option<Arc<GpuContext>>; 2]> = Mutex::new([None, None]);

fn slot(sel: Selection) -> usize {
    match sel {
        Selection::Auto => 0,
        Selection::Any => 1,
    }
}

/// The (cached) context for `sel`: `Ok(None)` only for [`Selection::Auto`] without a hardware
/// GPU.
pub fn context(sel: Selection) -> Result<Option<Arc<GpuContext>>, GpuError> {
    let mut cache = CONTEXTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = &cache[slot(sel)] {
        return Ok(Some(c.clone()));
    }
    let c = open(sel)?;
    cache[slot(sel)] = c.clone();
    Ok(c)
}

fn forget(sel: Selection) {
    let mut cache = CONTEXTS.lock().unwrap_or_else(|p| p.into_inner());
    cache[slot(sel)] = None;
}

/// Runs the paths of `range` on the GPU chosen by `sel`. `Ok(None)`: [`Selection::Auto`] found
/// no hardware GPU.
pub fn run(
    sel: Selection,
    params: &Params,
    seed: u64,
    range: PathRange,
    ctl: &Control,
) -> Result<Option<EngineOutput>, GpuError> {
    run_with(sel, params, seed, range, ctl, None)
}

/// [`run`] with explicit [`Budgets`] (default: [`Budgets::for_adapter`]); small budgets force
/// many passes, row blocks and dispatches, which tests use to check that the cut does not
/// change the results.
pub fn run_with(
    sel: Selection,
    params: &Params,
    seed: u64,
    range: PathRange,
    ctl: &Control,
    budgets: Option<Budgets>,
) -> Result<Option<EngineOutput>, GpuError> {
    let Some(ctx) = context(sel)? else {
        return Ok(None);
    };
    let budgets = match budgets {
        Some(b) => b,
        None => Budgets::for_adapter(ctx.is_software())?,
    };
    let out = run::run(&ctx, params, seed, range, ctl, &budgets);
    if matches!(&out, Err(e) if !matches!(e, GpuError::Cancelled)) {
        forget(sel);
    }
    out.map(Some)
}

/// What the random-number check kernel returns: per counter, the four Philox words and the four
/// f32 Box-Muller normals made from them.
pub type RngCheck = (Vec<[u32; 4]>, Vec<[f32; 4]>);

/// Philox words and f32 Box-Muller normals for `counters` under `key`, computed by the test
/// kernel `shaders/rng_check.wgsl` on any adapter ([`Selection::Any`]). For tests.
pub fn rng_check(counters: &[[u32; 4]], key: [u32; 2]) -> Result<RngCheck, GpuError> {
    let ctx = context(Selection::Any)?.expect("Selection::Any never returns None");
    run::rng_check(&ctx, counters, key)
}

/// Description of the adapter `sel` would use, if any (no device is kept open).
pub fn adapter_description(sel: Selection) -> Option<String> {
    pick_adapter(sel).ok().map(|a| describe(&a.get_info()))
}
