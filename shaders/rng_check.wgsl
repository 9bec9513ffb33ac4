// Test kernel for the random numbers: Philox words and the f32 Box-Muller normals for a list
// of counters, compared with `src/rng.rs` by tests/gpu.rs (words exactly, normals within
// f32 rounding). `src/engine/gpu/shaders.rs` prepends common/philox.wgsl (WGSL has no
// #include).

struct RngCheckKey {
    key: vec2<u32>,
    n: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> check_key: RngCheckKey;
@group(0) @binding(1) var<storage, read> counters: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> words_out: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> normals_out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn rng_check(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= check_key.n) {
        return;
    }
    let w = philox4x32_10(counters[i], check_key.key);
    words_out[i] = w;
    normals_out[i] = vec4<f32>(box_muller(w.x, w.y), box_muller(w.z, w.w));
}
