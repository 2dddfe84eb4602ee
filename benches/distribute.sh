#!/usr/bin/env bash
# Reproduces the distributed-compile figures in BENCHMARKS.md: a cold compile with icecream
# (icecc) spreading it over two loopback workers against a local compile, in one hyperfine
# run, for the test kernel and (given a checkout) real Unikraft RELEASE-0.17.0 with
# examples/catmotd:
#
#   bash benches/distribute.sh [/path/to/unikraft] [WORKDIR]
#
# Needs hyperfine and icecc (Debian), and what benches/unikraft.sh needs for the Unikraft
# part. All daemons run on this one machine, so the workers share its cores: the point is
# that jobs reach them and the kernels are identical, not speed.
set -euo pipefail
cd "$(dirname "$0")/.."
UK="${1:-}"
[ -n "$UK" ] && UK="$(cd "$UK" && pwd)"
W="${2:-/tmp/kiln-bench-distribute}"
cargo build --release --quiet
KILN="$PWD/target/release/kiln"
rm -rf "$W" && mkdir -p "$W/ice" && chmod 777 "$W/ice"
export KILN_WATCH=0
# icecream as its own test suite runs it on one host (see tests/common/icecc.rs).
SP=18765
export ICECC_TESTS=1 ICECC_TEST_SCHEDULER_PORTS=$SP:$((SP + 1))
icecc-scheduler -p $SP -n kilnbench -l "$W/ice/scheduler.log" & PIDS=$!
sleep 0.5
i=0
for n in local worker1 worker2; do
  extra=(); [ $n = local ] && extra=(--no-remote)
  i=$((i + 1))
  ICECC_TEST_SOCKET="$W/ice/socket-$n" iceccd -p $((SP + 100 + i)) -N $n -n kilnbench \
    -b "$W/ice/env-$n" -s 127.0.0.1:$SP -l "$W/ice/$n.log" -vvv "${extra[@]}" &
  PIDS="$PIDS $!"
done
trap 'kill $PIDS 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  n=$( (exec 3<>/dev/tcp/127.0.0.1/$((SP + 1)); printf 'listcs\r\nquit\r\n' >&3; cat <&3) | grep -c 'worker' || true)
  [ "$n" = 2 ] && break; sleep 0.2
done
printf '[distribute]\nscheduler = "127.0.0.1:%s"\n' $SP > "$W/kiln.toml"
export ICECC_TEST_SOCKET="$W/ice/socket-local" ICECC_TEST_REMOTEBUILD=1 KILN_CONFIG="$W/kiln.toml"

# The test kernel: its example app plus the rest of the test kernel's sources.
mkdir -p "$W/tk/rootfs" && echo hi > "$W/tk/rootfs/motd"
cp testkernel/example-app/main.c "$W/tk/"
printf 'spec: v0.6\nname: hello\nunikraft:\n  source: %s\nrootfs: ./rootfs\ntargets:\n  - qemu/x86_64\n' \
  "$PWD/testkernel" > "$W/tk/Kraftfile"
build() { # DIR CACHE [ARGS...]
  local d=$1 c=$2; shift 2
  (cd "$W/$d" && rm -rf .unikraft "$W/$c" && KILN_CACHE_DIR="$W/$c" "$KILN" build -j2 "$@" 2>>"$W/$c.err" >/dev/null)
}
export -f build; export W KILN
remote() { grep -h 'remote compile for file' "$W"/ice/worker*.log | wc -l; }

echo "== the test kernel: cold compile, local vs 2 loopback icecream workers =="
hyperfine -S bash --warmup 1 --runs 5 --export-markdown "$W/testkernel.md" \
  -n 'cold, local' "build tk c-local" \
  -n 'cold, --distribute (2 loopback workers)' "build tk c-dist --distribute"
build tk c-local && cp "$W/tk/.unikraft/build/hello_qemu-x86_64" "$W/tk-local"
before=$(remote); build tk c-dist --distribute
echo "objects the workers compiled in one distributed build: $(( $(remote) - before ))"
cmp "$W/tk-local" "$W/tk/.unikraft/build/hello_qemu-x86_64" && echo "kernels identical"

[ -z "$UK" ] && { echo "(no Unikraft checkout given: the real-Unikraft part is skipped)"; exit 0; }
cp -a examples/catmotd "$W/uk"
echo "== real Unikraft (catmotd, qemu/x86_64): cold compile, local vs 2 loopback workers =="
hyperfine -S bash --warmup 1 --runs 3 --export-markdown "$W/unikraft.md" \
  -n 'cold, local' "build uk c-uk-local --source unikraft=$UK" \
  -n 'cold, --distribute (2 loopback workers)' "build uk c-uk-dist --source unikraft=$UK --distribute"
build uk c-uk-local --source unikraft=$UK && cp "$W/uk/.unikraft/build/catmotd_qemu-x86_64" "$W/uk-local"
before=$(remote); build uk c-uk-dist --source unikraft=$UK --distribute
echo "objects the workers compiled in one distributed build: $(( $(remote) - before ))"
cmp "$W/uk-local" "$W/uk/.unikraft/build/catmotd_qemu-x86_64" && echo "kernels identical"
echo; echo "markdown tables: $W/*.md"
