#!/usr/bin/env bash
# Run HERE (the development machine) before `scripts/gpu-bench.sh` runs on a lent GPU machine,
# which has no Rust toolchain and no network. Puts in git-ignored folders:
#   .gl/       the Vulkan loader debs (the device README's headless-rendering prefix unpacks them)
#   .gpu-bin/  tokenrisk (release) and the GPU agreement test binary (tests/gpu.rs)
# Then carry [".gl", ".gpu-bin"] and run, after the device README's prefix:
#   scripts/gpu-bench.sh "$OUT"
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
for d in /.gl/ /.gpu-bin/; do grep -qxF "$d" .git/info/exclude || echo "$d" >>.git/info/exclude; done
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d); mkdir -p "$lists/partial" .gl
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
  apt-get $o update -qq
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>/dev/null)
fi
cargo build --release -q
test_bin=$(cargo test --release --test gpu --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "gpu" and m.get("executable"):
        print(m["executable"])' | tail -1)
mkdir -p .gpu-bin
cp target/release/tokenrisk .gpu-bin/
cp "$test_bin" .gpu-bin/gpu-tests
# Stripped: a device call carries at most 64 MiB in all.
strip .gpu-bin/tokenrisk .gpu-bin/gpu-tests
ls -la .gl .gpu-bin
du -sh .gl .gpu-bin
