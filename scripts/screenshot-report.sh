#!/usr/bin/env bash
# Screenshot of an HTML report with headless Chromium, to check how it looks:
#
#   scripts/screenshot-report.sh REPORT.html OUT.png [WIDTH] [HEIGHT]
#
# WIDTH x HEIGHT is the window (default 1280 x 4000); the page is captured from its top, at
# that size. Needs Chromium: on Debian `apt-get install -y chromium` (the script offers the
# command when /usr/bin/chromium is missing). CHROMIUM=path picks another binary.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 4 ]]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH] [HEIGHT]" >&2
    exit 2
fi
report=$1
out=$2
width=${3:-1280}
height=${4:-4000}

if [[ ! -f $report ]]; then
    echo "$report: no such file" >&2
    exit 1
fi

chromium=${CHROMIUM:-}
if [[ -z $chromium ]]; then
    for c in chromium chromium-browser google-chrome; do
        if command -v "$c" >/dev/null 2>&1; then
            chromium=$(command -v "$c")
            break
        fi
    done
fi
if [[ -z $chromium ]]; then
    echo "chromium not found; install it with: apt-get update && apt-get install -y chromium" >&2
    exit 1
fi

abs_report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
out_dir=$(cd "$(dirname "$out")" && pwd)
abs_out=$out_dir/$(basename "$out")

# A throwaway profile, so concurrent runs never share (or lock) one.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

# Chromium writes the PNG and exits; its chatter on stderr (dbus, GPU) is noise here.
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$profile" --no-first-run --no-default-browser-check \
    --virtual-time-budget=2000 \
    --screenshot="$abs_out" --window-size="$width,$height" \
    "file://$abs_report" 2>"$profile/stderr.log" || {
    cat "$profile/stderr.log" >&2
    exit 1
}
if [[ ! -s $abs_out ]]; then
    echo "chromium wrote no screenshot; its log:" >&2
    cat "$profile/stderr.log" >&2
    exit 1
fi
echo "wrote $abs_out (${width}x${height})"
