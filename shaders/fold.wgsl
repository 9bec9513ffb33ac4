// The fold stage: after each reporting dispatch of `simulate`, the workgroup partials of
// that row are merged into the row block's `block_moments`, WG_SIZE lanes per (row, metric),
// so neither stage needs a global atomic for the moments. The CPU twin of `merge_partial` is
// `stats::Moments::merge` (the host merges the lanes with it, in f64).
//
// WGSL has no #include: `src/engine/gpu/shaders.rs` appends this file to simulate.wgsl (it
// uses that file's bindings `dp`, `partials` and `block_moments`).

// stats::Moments::merge in f32 (Chan, Golub and LeVeque).
fn merge_partial(a: Partial, b: Partial) -> Partial {
    if (b.n == 0u) {
        return a;
    }
    if (a.n == 0u) {
        return b;
    }
    let nt = a.n + b.n;
    let na = f32(a.n);
    let nb = f32(b.n);
    let delta = b.mean - a.mean;
    return Partial(
        nt,
        a.mean + delta * (nb / f32(nt)),
        a.m2 + b.m2 + delta * delta * (na * nb / f32(nt)),
        min(a.min, b.min),
        max(a.max, b.max),
    );
}

// Folds the workgroup partials of the dispatch that just reported (same `Dispatch`) into
// `block_moments`: workgroup m handles metric m; lane l merges workgroups l, l + 64, ...
@compute @workgroup_size(WG_SIZE)
fn fold(
    @builtin(local_invocation_index) lane: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let m = wid.x;
    if (dp.report_row == NO_REPORT || m >= N_METRICS) {
        return;
    }
    let n_wgs = (dp.n_paths + WG_SIZE - 1u) / WG_SIZE;
    let slot = (dp.report_row * N_METRICS + m) * WG_SIZE + lane;
    var acc = block_moments[slot];
    for (var w = lane; w < n_wgs; w += WG_SIZE) {
        acc = merge_partial(acc, partials[w * N_METRICS + m]);
    }
    block_moments[slot] = acc;
}

// The same for a dispatch of the fused kernel: workgroup (m, k) folds metric m of the
// dispatch's k-th report (row dp.report_row + k of the block), whose partials start at
// k * (workgroups of the dispatch) * N_METRICS.
@compute @workgroup_size(WG_SIZE)
fn fold_rows(
    @builtin(local_invocation_index) lane: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let m = wid.x;
    let k = wid.y;
    if (dp.report_row == NO_REPORT || m >= N_METRICS || k >= dp.n_reports) {
        return;
    }
    let n_wgs = (dp.n_paths + WG_SIZE - 1u) / WG_SIZE;
    let slot = ((dp.report_row + k) * N_METRICS + m) * WG_SIZE + lane;
    var acc = block_moments[slot];
    for (var w = lane; w < n_wgs; w += WG_SIZE) {
        acc = merge_partial(acc, partials[(k * n_wgs + w) * N_METRICS + m]);
    }
    block_moments[slot] = acc;
}
