//! Every WGSL module, as concatenated for the GPU, parses and validates with naga (no GPU
//! needed), every file under shaders/ is part of some module, and the WGSL structs have the
//! same member offsets and sizes as their `#[repr(C)]` Rust twins.

use std::collections::BTreeSet;
use std::path::Path;
use tokenrisk::engine::gpu::layout::{
    GpuDispatch, GpuGov, GpuParams, GpuPartial, GpuPathState, GpuPolicy, GpuShock, GpuTranche,
};
use tokenrisk::engine::gpu::shaders;

fn parse(name: &str, source: &str) -> naga::Module {
    naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: WGSL parse error:\n{}", e.emit_to_string(source)))
}

fn validate(name: &str, source: &str, module: &naga::Module) -> naga::valid::ModuleInfo {
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(module)
    .unwrap_or_else(|e| {
        panic!(
            "{name}: WGSL validation error:\n{}",
            e.emit_to_string(source)
        )
    })
}

#[test]
fn every_module_parses_and_validates() {
    for (name, source, entries, _) in shaders::ALL {
        let module = parse(name, source);
        validate(name, source, &module);
        for entry in *entries {
            assert!(
                module
                    .entry_points
                    .iter()
                    .any(|e| e.name == *entry && e.stage == naga::ShaderStage::Compute),
                "{name}: no compute entry point {entry}"
            );
        }
    }
    // The common files also stand alone (declarations only).
    for (name, source) in [
        ("common/params.wgsl", shaders::COMMON_PARAMS),
        ("common/philox.wgsl", shaders::COMMON_PHILOX),
    ] {
        let module = parse(name, source);
        validate(name, source, &module);
    }
}

#[test]
fn every_shader_file_is_compiled_somewhere() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files = BTreeSet::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "wgsl") {
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                files.insert(rel);
            }
        }
    }
    let used: BTreeSet<String> = shaders::ALL
        .iter()
        .flat_map(|(_, _, _, parts)| parts.iter().map(|p| p.to_string()))
        .collect();
    assert_eq!(
        files, used,
        "shaders/ files vs the modules in engine::gpu::shaders::ALL"
    );
    // And each module really is the concatenation it claims to be.
    for (name, source, _, parts) in shaders::ALL {
        let mut expected = String::new();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                expected.push('\n');
            }
            expected.push_str(&std::fs::read_to_string(root.join(part)).unwrap());
        }
        assert_eq!(
            *source, expected,
            "{name} is not the concatenation of {parts:?}"
        );
    }
}

/// Member (name, offset) list and size of the WGSL struct `name` in `module`.
fn wgsl_layout(module: &naga::Module, name: &str) -> (Vec<(String, usize)>, usize) {
    for (_, ty) in module.types.iter() {
        if ty.name.as_deref() == Some(name) {
            if let naga::TypeInner::Struct { members, span } = &ty.inner {
                let fields = members
                    .iter()
                    .map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize))
                    .collect();
                return (fields, *span as usize);
            }
        }
    }
    panic!("struct {name} not found in WGSL");
}

#[test]
fn wgsl_structs_match_rust_twins() {
    let module = parse("simulate", shaders::SIMULATE);
    type Twin = (&'static str, Vec<(&'static str, usize)>, usize);
    let twins: [Twin; 8] = [
        (
            "Params",
            GpuParams::layout(),
            std::mem::size_of::<GpuParams>(),
        ),
        (
            "PathState",
            GpuPathState::layout(),
            std::mem::size_of::<GpuPathState>(),
        ),
        ("Shock", GpuShock::layout(), std::mem::size_of::<GpuShock>()),
        ("Gov", GpuGov::layout(), std::mem::size_of::<GpuGov>()),
        (
            "Policy",
            GpuPolicy::layout(),
            std::mem::size_of::<GpuPolicy>(),
        ),
        (
            "Tranche",
            GpuTranche::layout(),
            std::mem::size_of::<GpuTranche>(),
        ),
        (
            "Dispatch",
            GpuDispatch::layout(),
            std::mem::size_of::<GpuDispatch>(),
        ),
        (
            "Partial",
            GpuPartial::layout(),
            std::mem::size_of::<GpuPartial>(),
        ),
    ];
    for (name, rust_fields, rust_size) in twins {
        let (wgsl_fields, wgsl_size) = wgsl_layout(&module, name);
        let rust_fields: Vec<(String, usize)> = rust_fields
            .into_iter()
            .map(|(n, o)| (n.to_string(), o))
            .collect();
        assert_eq!(
            wgsl_fields, rust_fields,
            "{name}: member names/offsets differ"
        );
        assert_eq!(wgsl_size, rust_size, "{name}: size differs");
    }
}

/// Every WGSL constant equals its Rust twin (`shaders::shared_constants`) or is one of the
/// shader's own (`shaders::SHADER_ONLY`), and every listed twin is declared in some WGSL
/// module: a constant changed on one side only fails here.
#[test]
fn wgsl_constants_match_their_rust_values() {
    use shaders::Value;
    let shared = shaders::shared_constants();
    let mut seen = BTreeSet::new();
    for (name, source, _, _) in shaders::ALL {
        let module = parse(name, source);
        for (_, c) in module.constants.iter() {
            let Some(cname) = c.name.as_deref() else {
                continue;
            };
            let value = match module.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => Value::U32(v),
                naga::Expression::Literal(naga::Literal::I32(v)) => Value::I32(v),
                naga::Expression::Literal(naga::Literal::F32(v)) => Value::F32(v),
                ref other => {
                    panic!("{name}: const {cname} does not evaluate to a literal: {other:?}")
                }
            };
            match shared.iter().find(|(n, _)| *n == cname) {
                Some((_, rust)) => {
                    assert_eq!(
                        value, *rust,
                        "{name}: WGSL {cname} differs from its Rust value"
                    );
                    seen.insert(cname.to_string());
                }
                None => assert!(
                    shaders::SHADER_ONLY.iter().any(|(n, _)| *n == cname),
                    "{name}: WGSL const {cname} has no Rust twin in shaders::shared_constants \
                     (nor a reason in shaders::SHADER_ONLY)"
                ),
            }
        }
    }
    for (n, _) in &shared {
        assert!(
            seen.contains(*n),
            "{n} is listed but no WGSL module declares it"
        );
    }
}

/// Every member of the kernel's `Params` block is read by the kernel: a field the host fills
/// (from `model::Params`, every field of which `GpuParams::from_params` must name) but the
/// shader ignores is a model feature missing from the GPU engine.
#[test]
fn every_params_member_is_read_by_the_kernel() {
    let module = parse("simulate", shaders::SIMULATE);
    let (params_var, params_ty) = module
        .global_variables
        .iter()
        .find(|(_, v)| v.name.as_deref() == Some("params"))
        .map(|(h, v)| (h, v.ty))
        .expect("a `params` uniform");
    let naga::TypeInner::Struct { members, .. } = &module.types[params_ty].inner else {
        panic!("params is not a struct");
    };
    let mut read = BTreeSet::new();
    let functions = module
        .functions
        .iter()
        .map(|(_, f)| f)
        .chain(module.entry_points.iter().map(|e| &e.function));
    for f in functions {
        for (_, e) in f.expressions.iter() {
            if let naga::Expression::AccessIndex { base, index } = *e {
                if matches!(f.expressions[base], naga::Expression::GlobalVariable(g) if g == params_var)
                {
                    read.insert(index as usize);
                }
            }
        }
    }
    let unread: Vec<&str> = members
        .iter()
        .enumerate()
        .filter(|(i, _)| !read.contains(i))
        .map(|(_, m)| m.name.as_deref().unwrap_or("?"))
        .filter(|name| !name.starts_with("_pad"))
        .collect();
    assert!(
        unread.is_empty(),
        "Params members the kernel never reads: {unread:?}"
    );
}
