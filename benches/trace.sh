#!/usr/bin/env bash
# Where the time of a real Unikraft build goes (issue 12): a cold `kiln build --trace` of
# unikraft/app-helloworld's four targets (qemu and fc, x86_64 and arm64) with -j2, then the
# profile's summary (benches/trace_summary.py). Open the profile itself in
# https://ui.perfetto.dev.
#
#   bash benches/trace.sh /path/to/unikraft /path/to/app-helloworld [WORKDIR]
#
# Needs flex, bison, gcc-aarch64-linux-gnu, python3; the checkouts as README.md's "Building
# real Unikraft" makes them (RELEASE-0.17.0).
set -euo pipefail
cd "$(dirname "$0")/.."
UK="$1"
APP="$2"
W="${3:-/tmp/kiln-trace-bench}"
cargo build --release --quiet -p kiln
K="$PWD/target/release/kiln"
rm -rf "$W" && mkdir -p "$W"
cp -r "$APP" "$W/app" && rm -rf "$W/app/.unikraft"
export KILN_CACHE_DIR="$W/cache" SOURCE_DATE_EPOCH=1700000000 KILN_WATCH=0
"$K" build "$W/app" --source unikraft="$UK" --offline -j2 --progress plain --trace "$W/trace.json"
python3 benches/trace_summary.py "$W/trace.json"
echo "profile: $W/trace.json"
