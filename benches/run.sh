#!/usr/bin/env bash
# Reproduces the `kiln run` figure in BENCHMARKS.md: time from starting the command to the
# guest's first serial byte on stdout, `kiln run` on an already built project vs QEMU invoked
# directly with the same kernel, alternating runs (benches/first_output.py).
# Needs: qemu-system-x86, gcc, make, python3.
#
#   bash benches/run.sh [RUNS] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-30}"
W="${2:-/tmp/kiln-bench-run}"
cargo build --release --quiet
KILN="$PWD/target/release/kiln"
rm -rf "$W" && mkdir -p "$W/p"
export KILN_CACHE_DIR="$W/cache" XDG_STATE_HOME="$W/state" KILN_WATCH=0
cp testkernel/example-app/main.c "$W/p/"
printf 'spec: v0.6\nname: hello\nunikraft:\n  source: %s\ntargets:\n  - qemu/x86_64\n' \
  "$PWD/testkernel" > "$W/p/Kraftfile"
(cd "$W/p" && "$KILN" build 2>/dev/null)
K="$W/p/.unikraft/build/hello_qemu-x86_64"
QEMU="qemu-system-x86_64 -machine pc,accel=tcg -cpu max -m 64M -display none -serial stdio \
-monitor none -no-reboot -nic none -device isa-debug-exit,iobase=0x501,iosize=2 \
-fw_cfg name=etc/sercon-port,string=0 -kernel $K -append x"
python3 benches/first_output.py "$RUNS" \
  "kiln run --rm (no-op build, QMP cont, foreground)" "cd '$W/p' && '$KILN' run --rm -- x 2>/dev/null" \
  "qemu-system-x86_64 directly (same kernel, same devices)" "$QEMU 2>/dev/null"
