#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md, side by side with the tool it is compared to,
# in one hyperfine run each. Needs: hyperfine, cpio, b3sum (apt-get install hyperfine cpio b3sum).
#
#   bash benches/compare.sh [WORKDIR]      (default WORKDIR: /tmp/kiln-bench)
#
# The trees are copied into WORKDIR first and `sync`ed, so no run pays for another's writeback.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in hyperfine cpio b3sum; do
  command -v "$tool" >/dev/null || { echo "benches/compare.sh: install $tool (apt-get install $tool)" >&2; exit 1; }
done
cargo build --release --quiet
KILN="$PWD/target/release/kiln"
W="${1:-/tmp/kiln-bench}"
rm -rf "$W" && mkdir -p "$W"
export KILN_CACHE_DIR="$W/cache"

runtime_project() { # DIR
  mkdir -p "$1"
  printf 'spec: v0.6\nruntime: base:latest\nrootfs: ./rootfs\n' > "$1/Kraftfile"
}

# 1. A ~700 MB, ~3,000-entry tree: a copy of /usr/lib/x86_64-linux-gnu.
BIG="$W/big"
runtime_project "$BIG"
cp -a /usr/lib/x86_64-linux-gnu "$BIG/rootfs"
# 2. 10,000 small files in 100 directories.
SMALL="$W/small"
runtime_project "$SMALL"
for d in $(seq 0 99); do
  mkdir -p "$SMALL/rootfs/d$d"
  for f in $(seq 0 99); do echo "file $d/$f" > "$SMALL/rootfs/d$d/f$f.txt"; done
done
sync
echo "trees: big $(du -sh "$BIG/rootfs" | cut -f1), $(find "$BIG/rootfs" | wc -l) entries;" \
  "small $(find "$SMALL/rootfs" -type f | wc -l) files"

echo; echo "== cold build of the big tree vs GNU cpio vs cat =="
hyperfine --warmup 1 --runs 5 --export-markdown "$W/cold.md" \
  -n 'kiln build (cold: empty cache and state)' \
  --prepare "rm -rf '$KILN_CACHE_DIR' '$BIG/.unikraft'; sync" \
  "cd '$BIG' && KILN_WATCH=0 '$KILN' build 2>/dev/null" \
  -n 'GNU cpio (find | sort | cpio -o -H newc)' --prepare 'sync' \
  "cd '$BIG/rootfs' && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 > '$W/gnu.cpio' 2>/dev/null" \
  -n 'cat of the same files' --prepare 'sync' \
  "cd '$BIG/rootfs' && find . -type f -print0 | xargs -0 cat > '$W/cat.out'"

echo; echo "== no-op vs cold build, 10,000 files =="
# The watcher daemon (KILN_WATCH=1) lets a no-op skip stat'ing the 10,000 files; with
# KILN_WATCH=0 every build stats them through the stat cache.
export KILN_WATCH_SOCKET="$W/watch.sock"
(cd "$SMALL" && KILN_WATCH=1 "$KILN" build 2>/dev/null && KILN_WATCH=1 "$KILN" build 2>/dev/null)
hyperfine --warmup 3 --runs 30 --export-markdown "$W/noop.md" \
  -n 'kiln build, no-op (watcher daemon running)' --prepare 'true' \
  "cd '$SMALL' && KILN_WATCH=1 '$KILN' build 2>/dev/null" \
  -n 'kiln build, no-op (no daemon: stat every file)' --prepare 'true' \
  "cd '$SMALL' && KILN_WATCH=0 '$KILN' build 2>/dev/null" \
  -n 'kiln build, cold (empty cache and state)' \
  --prepare "rm -rf '$KILN_CACHE_DIR/cas' '$KILN_CACHE_DIR/ac' '$SMALL/.unikraft'; sync" \
  "cd '$SMALL' && KILN_WATCH=0 '$KILN' build 2>/dev/null"

echo; echo "== files written by a no-op build, with and without the daemon (expect none) =="
for mode in 1 0; do
  (cd "$SMALL" && KILN_WATCH=$mode "$KILN" build 2>/dev/null)
  sleep 1; stamp="$W/stamp"; touch "$stamp"; sleep 1
  (cd "$SMALL" && KILN_WATCH=$mode "$KILN" build 2>/dev/null)
  echo "KILN_WATCH=$mode: changed since the stamp: $(find "$SMALL" "$KILN_CACHE_DIR" -newer "$stamp" | wc -l)"
done

echo; echo "== hashing a cold tree (no stat cache): kiln plan vs b3sum =="
hyperfine --warmup 1 --runs 10 --export-markdown "$W/hash.md" \
  -n 'kiln plan (hashes every file; plan keeps no stat cache)' \
  --prepare "rm -rf '$BIG/.unikraft'" "cd '$BIG' && KILN_WATCH=0 '$KILN' plan > /dev/null" \
  -n 'b3sum of the same files' \
  "cd '$BIG/rootfs' && find . -type f -print0 | xargs -0 b3sum > /dev/null"

echo; echo "== kiln --help =="
hyperfine -N --warmup 10 --runs 200 --export-markdown "$W/help.md" "$KILN --help"

"$KILN" __watch-daemon --help >/dev/null 2>&1 || true
pkill -f "__watch-daemon --socket $W/watch.sock" || true
echo; echo "markdown tables: $W/*.md"
