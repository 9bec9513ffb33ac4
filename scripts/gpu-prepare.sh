#!/usr/bin/env bash
# Run HERE (the development machine) before scripts/gpu-bench.sh runs on a lent GPU machine,
# which has no Rust toolchain and no network. Fills two git-ignored folders (.gitignore):
#   .gl/       the Vulkan loader debs (the device README's headless-rendering prefix unpacks them)
#   .gpu-bin/  tokenrisk (release, stripped) and the GPU test binaries, as test-NAME.gz
#              (stripped, gzipped) for each of tests/gpu.rs, gpu_kernel.rs, gpu_faults.rs,
#              gpu_sizing.rs that exists
# checks that what one device call carries (the working tree plus these folders) is under
# the 64 MiB limit, failing loudly if not, and prints the exact `run` call to make.
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
limit=$((64 * 1024 * 1024))

if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d); mkdir -p "$lists/partial" .gl
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
  apt-get $o update -qq
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>/dev/null)
fi
ls .gl/libvulkan1_*.deb >/dev/null || { echo "error: no .gl/libvulkan1_*.deb (apt-get download failed)" >&2; exit 1; }

tests=()
for t in gpu gpu_kernel gpu_faults gpu_sizing; do
  [ -f "tests/$t.rs" ] && tests+=("$t")
done
cargo build --release -q
test_flags=()
for t in "${tests[@]}"; do test_flags+=(--test "$t"); done
# NAME<TAB>executable for each test binary cargo built.
built=$(cargo test --release "${test_flags[@]}" --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    t = m.get("target", {})
    if m.get("reason") == "compiler-artifact" and "test" in t.get("kind", []) and m.get("executable"):
        print(t["name"] + "\t" + m["executable"])')
rm -rf .gpu-bin && mkdir -p .gpu-bin
cp target/release/tokenrisk .gpu-bin/
for t in "${tests[@]}"; do
  exe=$(printf '%s\n' "$built" | awk -F'\t' -v t="$t" '$1 == t { print $2 }' | tail -1)
  [ -n "$exe" ] || { echo "error: cargo built no test binary for tests/$t.rs" >&2; exit 1; }
  cp "$exe" ".gpu-bin/test-$t" && strip ".gpu-bin/test-$t"
  # Each test binary links the whole library (about 8 MiB stripped); gzip cuts it to about
  # 3.5 MiB so that four of them fit the call. scripts/gpu-bench.sh unpacks them.
  gzip -f -6 ".gpu-bin/test-$t"
done
strip .gpu-bin/tokenrisk
ls -la .gl .gpu-bin

# What travels: tracked and untracked-not-ignored files, plus the carried folders.
tree=$(git ls-files -z --cached --others --exclude-standard |
  xargs -0 -r stat -c %s -- 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
carried=$(find .gl .gpu-bin -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
total=$((tree + carried))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "travels: working tree $(mib "$tree") + .gl and .gpu-bin $(mib "$carried") = $(mib "$total") (limit 64 MiB)"
if [ "$total" -ge "$limit" ]; then
  echo "ERROR: $(mib "$total") is over the device call's 64 MiB limit: the call would be refused." >&2
  echo "       Remove untracked files from the working tree or make the binaries smaller." >&2
  exit 1
fi
cat <<EOF

The device call (one call, everything in it; the summary is at its end and in \$OUT/summary.txt):
  command:   for f in .gl/*.deb; do dpkg -x \$f /; done; ldconfig; scripts/gpu-bench.sh "\$OUT"
  carry:     [".gl", ".gpu-bin"]
  timeout_s: 600
Rehearse it here first on lavapipe: SMALL=1 scripts/gpu-bench.sh /tmp/rehearsal
Read its plan: scripts/gpu-bench.sh --dry-run
EOF
