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

mod devices;
pub mod layout;
mod run;
pub mod settings;
pub mod shaders;

use super::{Cancelled, Control, EngineOutput, PathRange};
use crate::model::Params;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use devices::{run_on, Devices};
pub use run::Plan;
pub use settings::{Fault, FaultKind, Settings, KERNEL_VAR};

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

/// [`Budgets::rows_per_dispatch`] of `TOKENRISK_GPU_KERNEL=fused`.
pub const FUSED_ROWS_PER_DISPATCH: u32 = 64;

impl Budgets {
    /// The budgets for a hardware or software adapter, with the kernel `settings` chose
    /// (`TOKENRISK_GPU_KERNEL`, [`Settings::kernel_from`]).
    pub fn for_adapter(software: bool, settings: &Settings) -> Budgets {
        let (rows_per_dispatch, hist_preaggregate) = settings.kernel;
        Budgets {
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
        }
    }
}

/// Errors of the GPU engine. Those met while running name the adapter, where in the run
/// (`at`: the submission or read-back, its pass, paths and steps) and what to try (`hint`).
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found ({0}); install a Vulkan driver (for a software one: apt-get install mesa-vulkan-drivers libvulkan1) or use --backend cpu")]
    NoAdapter(String),
    #[error("could not open GPU device {adapter}: {message}; use --backend cpu")]
    RequestDevice { adapter: String, message: String },
    #[error("GPU validation error on {adapter} at {at}: {message}; {hint}")]
    Validation {
        adapter: String,
        at: String,
        message: String,
        hint: String,
    },
    #[error("GPU out of memory on {adapter} at {at}: {message}; {hint}")]
    OutOfMemory {
        adapter: String,
        at: String,
        message: String,
        hint: String,
    },
    #[error(
        "GPU timed out on {adapter} at {at}: the work did not finish within {timeout:?}; {hint}"
    )]
    Timeout {
        adapter: String,
        at: String,
        timeout: Duration,
        hint: String,
    },
    #[error("GPU device lost on {adapter} at {at}: {message}; {hint}")]
    DeviceLost {
        adapter: String,
        at: String,
        message: String,
        hint: String,
    },
    #[error("reading results back from GPU {adapter} failed at {at}: {message}; {hint}")]
    Map {
        adapter: String,
        at: String,
        message: String,
        hint: String,
    },
    #[error("run does not fit GPU {adapter}: {message}; use --backend cpu")]
    Limits { adapter: String, message: String },
    #[error("GPU settings: {0}")]
    Config(String),
    /// The caller stopped the run ([`Control::cancel`]).
    #[error("the run was cancelled")]
    Cancelled,
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

    /// True for failures of the device or its driver, after which `--backend auto` may run the
    /// CPU engine instead; false for a cancelled run and for bad settings (the user's to fix).
    pub fn is_device_failure(&self) -> bool {
        !matches!(self, GpuError::Cancelled | GpuError::Config(_))
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
    /// Errors caught by the uncaptured-error handler: (out of memory, message).
    errors: Arc<Mutex<Vec<(bool, String)>>>,
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

    /// Turns a lost device or a captured error into a [`GpuError`] located at `at`.
    fn check(&self, at: &str, settings: &Settings) -> Result<(), GpuError> {
        let adapter = self.description();
        if let Some(message) = self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(GpuError::DeviceLost {
                adapter,
                at: at.to_string(),
                message,
                hint: settings.hint(),
            });
        }
        let errors = std::mem::take(&mut *self.errors.lock().unwrap_or_else(|p| p.into_inner()));
        if errors.is_empty() {
            return Ok(());
        }
        let oom = errors.iter().any(|(oom, _)| *oom);
        let message = errors
            .into_iter()
            .map(|(_, m)| m)
            .collect::<Vec<_>>()
            .join("; ");
        let (at, hint) = (at.to_string(), settings.hint());
        Err(if oom {
            GpuError::OutOfMemory {
                adapter,
                at,
                message,
                hint,
            }
        } else {
            GpuError::Validation {
                adapter,
                at,
                message,
                hint,
            }
        })
    }

    /// Waits for `index` at most `settings.timeout` (`stall`: the fault injection's GPU that
    /// never finishes).
    fn wait(
        &self,
        index: wgpu::SubmissionIndex,
        at: &str,
        settings: &Settings,
        stall: bool,
    ) -> Result<(), GpuError> {
        let limit = settings.timeout;
        let polled = if stall {
            // The injected stall: the work is treated as never finishing, so the wait runs
            // out as it would on a hung GPU (the real timeout path is wgpu's, below).
            std::thread::sleep(limit);
            Err(wgpu::PollError::Timeout)
        } else {
            self.device.poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: Some(limit),
            })
        };
        if polled.is_err() {
            // Let a device-lost callback run, so the error says why the device went.
            let _ = self.device.poll(wgpu::PollType::Poll);
        }
        self.check(at, settings)?;
        match polled {
            Ok(_) => Ok(()),
            Err(wgpu::PollError::Timeout) => Err(GpuError::Timeout {
                adapter: self.description(),
                at: at.to_string(),
                timeout: limit,
                hint: settings.hint(),
            }),
            Err(e) => Err(GpuError::DeviceLost {
                adapter: self.description(),
                at: at.to_string(),
                message: e.to_string(),
                hint: settings.hint(),
            }),
        }
    }

    /// Copies `size` bytes of `src` into `staging` (MAP_READ), waits and returns them. `fail`:
    /// the fault injection's failed map (the staging buffer is destroyed before it is mapped).
    fn read_back(
        &self,
        src: &wgpu::Buffer,
        staging: &wgpu::Buffer,
        size: u64,
        at: &str,
        settings: &Settings,
        fail: bool,
    ) -> Result<Vec<u8>, GpuError> {
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, 0, staging, 0, size);
        let index = self.queue.submit([enc.finish()]);
        if fail {
            staging.destroy();
        }
        let mapped: Arc<Mutex<Option<Result<(), String>>>> = Arc::new(Mutex::new(None));
        let slot = mapped.clone();
        staging.map_async(wgpu::MapMode::Read, 0..size, move |r| {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.map_err(|e| e.to_string()));
        });
        let waited = self.wait(index, at, settings, false);
        // The map callback runs inside a poll; make sure one has run after the copy finished.
        if mapped.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
            let _ = self.device.poll(wgpu::PollType::Poll);
        }
        let outcome = mapped.lock().unwrap_or_else(|p| p.into_inner()).take();
        let map_err = |message: String| GpuError::Map {
            adapter: self.description(),
            at: at.to_string(),
            message,
            hint: settings.hint(),
        };
        match (outcome, waited) {
            (Some(Err(e)), _) => return Err(map_err(e)),
            (_, Err(e)) => return Err(e),
            (Some(Ok(())), Ok(())) => {}
            (None, Ok(())) => {
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
            at: format!("compiling the {label} kernel"),
            message: e.to_string(),
            hint: "use --backend cpu".into(),
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

/// The adapters `sel` accepts, best first ([`rank`], then enumeration order): `WGPU_BACKEND`
/// and `WGPU_ADAPTER_NAME` filter. `Err` when none qualifies (the text lists what was seen).
/// Index `i` of this list is adapter `i` of `--devices`.
fn eligible_adapters(sel: Selection) -> Result<Vec<wgpu::Adapter>, String> {
    let desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    let backends = desc.backends;
    let instance = wgpu::Instance::new(desc);
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    let wanted_name = std::env::var("WGPU_ADAPTER_NAME")
        .ok()
        .map(|n| n.to_lowercase())
        .filter(|n| !n.is_empty());
    let mut seen = Vec::new();
    let mut ranked: Vec<(u8, wgpu::Adapter)> = Vec::new();
    for adapter in adapters {
        let info = adapter.get_info();
        seen.push(describe(&info));
        if let Some(name) = &wanted_name {
            if !info.name.to_lowercase().contains(name) {
                continue;
            }
        }
        if let Some(r) = rank(info.device_type, sel) {
            ranked.push((r, adapter));
        }
    }
    ranked.sort_by_key(|(r, _)| *r);
    if !ranked.is_empty() {
        return Ok(ranked.into_iter().map(|(_, a)| a).collect());
    }
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

/// The adapters `sel` accepts, as `--devices` numbers them: "0: NAME (BACKEND, TYPE)".
pub fn list_adapters(sel: Selection) -> Vec<String> {
    eligible_adapters(sel)
        .map(|v| {
            v.iter()
                .enumerate()
                .map(|(i, a)| format!("{i}: {}", describe(&a.get_info())))
                .collect()
        })
        .unwrap_or_default()
}

/// Opens a device on `adapter`, with `limits` (default: all the adapter allows; lower ones
/// make the engine cut its runs as on a smaller card), and compiles the pipelines.
fn open_adapter(
    adapter: &wgpu::Adapter,
    limits: Option<wgpu::Limits>,
) -> Result<Arc<GpuContext>, GpuError> {
    let info = adapter.get_info();
    let limits = limits.unwrap_or_else(|| adapter.limits());
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
        *lost_slot.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(format!("{reason:?}: {message}"));
    });
    let errors = Arc::new(Mutex::new(Vec::new()));
    let error_slot = errors.clone();
    device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
        let oom = matches!(e, wgpu::Error::OutOfMemory { .. });
        error_slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((oom, e.to_string()));
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
    Ok(Arc::new(GpuContext {
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
    }))
}

/// Opens a new (uncached) device on adapter `index` of [`list_adapters`], with `limits` if
/// given. Tests open several devices on one adapter, or one with low limits, this way.
pub fn open_device(
    sel: Selection,
    index: usize,
    limits: Option<wgpu::Limits>,
) -> Result<Arc<GpuContext>, GpuError> {
    let adapters = eligible_adapters(sel).map_err(GpuError::NoAdapter)?;
    let adapter = adapters.get(index).ok_or_else(|| {
        GpuError::Config(format!(
            "no GPU adapter {index}; there are {} ({})",
            adapters.len(),
            list_adapters(sel).join(", ")
        ))
    })?;
    open_adapter(adapter, limits)
}

/// Open devices, reused across runs (shader compilation is slow on software adapters): per
/// selection, the devices of the [`Devices`] they were opened for. A failed run drops them.
type Opened = (Selection, Devices, Vec<Arc<GpuContext>>);
static CONTEXTS: Mutex<Vec<Opened>> = Mutex::new(Vec::new());
/// The devices runs use (`--devices`), process-wide like the device cache.
static DEVICES: Mutex<Devices> = Mutex::new(Devices::Best);

/// Sets the devices later runs use (the CLI's `--devices`).
pub fn set_devices(devices: Devices) {
    *DEVICES.lock().unwrap_or_else(|p| p.into_inner()) = devices;
}

/// The devices later runs use.
pub fn devices() -> Devices {
    DEVICES.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The (cached) devices for `sel` and the current [`devices`]: `Ok(None)` only for
/// [`Selection::Auto`] without a hardware GPU.
pub fn contexts(sel: Selection) -> Result<Option<Vec<Arc<GpuContext>>>, GpuError> {
    let want = devices();
    let mut cache = CONTEXTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, _, c)) = cache.iter().find(|(s, d, _)| *s == sel && *d == want) {
        return Ok(Some(c.clone()));
    }
    let adapters = match eligible_adapters(sel) {
        Ok(a) => a,
        Err(why) => {
            return match sel {
                Selection::Auto => Ok(None),
                Selection::Any => Err(GpuError::NoAdapter(why)),
            }
        }
    };
    let infos: Vec<devices::Listed> = adapters
        .iter()
        .map(|a| {
            let i = a.get_info();
            (describe(&i), i.device_type, i.backend)
        })
        .collect();
    let indices = want.resolve(&infos).map_err(GpuError::Config)?;
    let mut opened = Vec::with_capacity(indices.len());
    for i in indices {
        opened.push(open_adapter(&adapters[i], None)?);
    }
    cache.retain(|(s, _, _)| *s != sel);
    cache.push((sel, want, opened.clone()));
    Ok(Some(opened))
}

/// The first device of [`contexts`] (the one a single-device run uses).
pub fn context(sel: Selection) -> Result<Option<Arc<GpuContext>>, GpuError> {
    Ok(contexts(sel)?.map(|mut v| v.swap_remove(0)))
}

fn forget(sel: Selection) {
    let mut cache = CONTEXTS.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(s, _, _)| *s != sel);
}

/// Runs the paths of `range` on the GPU(s) chosen by `sel` and [`devices`]. `Ok(None)`:
/// [`Selection::Auto`] found no hardware GPU.
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
    let settings = Settings::from_env()?;
    let Some(ctxs) = contexts(sel)? else {
        return Ok(None);
    };
    let out = run_on(&ctxs, params, seed, range, ctl, budgets, &settings);
    if matches!(&out, Err(e) if e.is_device_failure()) {
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

/// Description of the adapter `sel` would use first, if any (no device is kept open).
pub fn adapter_description(sel: Selection) -> Option<String> {
    eligible_adapters(sel)
        .ok()
        .and_then(|v| v.first().map(|a| describe(&a.get_info())))
}
