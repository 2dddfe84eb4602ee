#!/usr/bin/env bash
# A no-op `kiln build ./...` over a monorepo of N small runtime projects (issue 12), without
# and with the watch daemon, side by side with `find` listing the same Kraftfiles, in one
# hyperfine run. Each project: a Kraftfile (runtime base:latest, rootfs ./rootfs) and a
# three-file rootfs; ten group directories of N/10 projects. Also counts the files a no-op
# writes (none, by design).
#
#   bash benches/monorepo.sh [N] [WORKDIR]      (default 1000, /tmp/kiln-monorepo-bench)
#
# Needs hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "install hyperfine (apt-get install hyperfine)" >&2; exit 1; }
N="${1:-1000}"
W="${2:-/tmp/kiln-monorepo-bench}"
cargo build --release --quiet -p kiln
K="$PWD/target/release/kiln"
export KILN_CACHE_DIR="$W/cache" HOME="$W/home" SOURCE_DATE_EPOCH=1700000000
export XDG_STATE_HOME="$W/state" KILN_WATCH_IDLE_SECS=600
rm -rf "$W" && mkdir -p "$W/mono" "$W/home"
for i in $(seq 1 "$N"); do
  d="$W/mono/group$((i % 10))/app$i"
  mkdir -p "$d/rootfs/etc" "$d/rootfs/bin"
  printf 'spec: v0.6\nname: app%s\nruntime: base:latest\nrootfs: ./rootfs\n' "$i" >"$d/Kraftfile"
  echo "app $i" >"$d/rootfs/etc/motd"
  echo "host$i" >"$d/rootfs/etc/hostname"
  printf '#!/bin/sh\necho %s\n' "$i" >"$d/rootfs/bin/run"
done
cd "$W/mono"

echo "== cold build of $N projects (one graph, -j $(nproc))"
/usr/bin/time -f "%e s, %M KiB max RSS" env KILN_WATCH=0 "$K" build ./... --progress none 2>&1 >/dev/null | tail -2
# Files written less than two seconds before they were hashed are hashed again next time (the
# stat cache's racy window): let them settle, then one build remembers them all.
sleep 3
KILN_WATCH=0 "$K" build ./... --progress none >/dev/null 2>&1
# The first build with the watcher starts the daemon and registers every rootfs.
KILN_WATCH=1 "$K" build ./... --progress none >/dev/null 2>&1
KILN_WATCH=1 "$K" build ./... --progress none >/dev/null 2>&1

echo "== what a no-op writes"
touch "$W/stamp"
sleep 1
KILN_WATCH=0 "$K" build ./... --progress none 2>&1 | tail -1
KILN_WATCH=1 "$K" build ./... --progress none 2>&1 | tail -1
echo "files newer than the stamp: $(find "$W/mono" "$W/cache" -newer "$W/stamp" -type f | wc -l)"

echo "== no-op: kiln build ./... (without and with the watcher) vs find"
hyperfine --warmup 3 --runs 20 -N \
  -n "kiln build ./... (no watcher)" "env KILN_WATCH=0 $K build ./... --progress none" \
  -n "kiln build ./... (watcher)" "env KILN_WATCH=1 $K build ./... --progress none" \
  -n "kiln plan ./..." "env KILN_WATCH=1 $K plan ./... -o json" \
  -n "find . -name Kraftfile" "find . -name Kraftfile"

if [ -S "$KILN_CACHE_DIR/watch.sock" ]; then
  pkill -f "__watch-daemon --socket $KILN_CACHE_DIR/watch.sock" || true
fi
