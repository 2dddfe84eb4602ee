#!/usr/bin/env bash
# The cost of checking every blob's hash as it is read (issue: a damaged blob must never feed
# a new result): kiln before the change (commit 043b692, which copied blobs with a plain
# copy_file_range and checked sizes only) and kiln now, side by side in one hyperfine run
# each, on a cold and a cached build of a ~700 MB initrd and of the test kernel.
#
#   bash benches/verify_cost.sh [WORKDIR]       (default /tmp/kiln-verify-bench)
#
# Needs hyperfine, gcc, make. Builds the old kiln in a git worktree (a few minutes, once).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "install hyperfine (apt-get install hyperfine)" >&2; exit 1; }
W="${1:-/tmp/kiln-verify-bench}"
BEFORE_REV=043b692
if [ ! -x "$W/before/target/release/kiln" ]; then
  rm -rf "$W/before" && mkdir -p "$W"
  git worktree add -f "$W/before/src" "$BEFORE_REV" >/dev/null
  (cd "$W/before/src" && CARGO_TARGET_DIR="$W/before/target" cargo build --release --quiet -p kiln)
fi
cargo build --release --quiet -p kiln
OLD="$W/before/target/release/kiln"
NEW="$PWD/target/release/kiln"
TK="$PWD/testkernel"
export KILN_WATCH=0

rm -rf "$W/big" "$W/kernel" && mkdir -p "$W/big" "$W/kernel"
printf 'spec: v0.6\nruntime: base:latest\nrootfs: ./rootfs\n' > "$W/big/Kraftfile"
cp -a /usr/lib/x86_64-linux-gnu "$W/big/rootfs"
printf 'spec: v0.6\nname: hello\nunikraft:\n  source: %s\n  kconfig:\n    CONFIG_LIBVFSCORE_AUTOMOUNT_CI_EINITRD: y\nrootfs: ./rootfs\ntargets:\n  - qemu/x86_64\n' "$TK" > "$W/kernel/Kraftfile"
cp "$TK/example-app/main.c" "$W/kernel/"
mkdir -p "$W/kernel/rootfs/etc" && echo hello > "$W/kernel/rootfs/etc/motd"
sync
echo "rootfs: $(du -sh "$W/big/rootfs" | cut -f1), $(find "$W/big/rootfs" | wc -l) entries"

# cold: empty cache and project state. cached: a warm cache and a fresh checkout (every
# action is a cache hit; the outputs are copied, and now hashed, out of the cache).
for which in big kernel; do
  P="$W/$which"
  echo; echo "== $which: cold build, before vs after =="
  hyperfine --warmup 1 --runs 5 --export-markdown "$W/$which-cold.md" \
    -n "before ($BEFORE_REV)" --prepare "rm -rf '$W/cache-$which-old' '$P/.unikraft'; sync" \
    "cd '$P' && KILN_CACHE_DIR='$W/cache-$which-old' '$OLD' build 2>/dev/null" \
    -n "after (hash-checked reads)" --prepare "rm -rf '$W/cache-$which-new' '$P/.unikraft'; sync" \
    "cd '$P' && KILN_CACHE_DIR='$W/cache-$which-new' '$NEW' build 2>/dev/null"
  echo; echo "== $which: cached build (fresh checkout, warm cache), before vs after =="
  (cd "$P" && KILN_CACHE_DIR="$W/cache-$which-old" "$OLD" build 2>/dev/null)
  (cd "$P" && KILN_CACHE_DIR="$W/cache-$which-new" "$NEW" build 2>/dev/null)
  hyperfine --warmup 1 --runs 10 --export-markdown "$W/$which-cached.md" \
    -n "before ($BEFORE_REV)" --prepare "rm -rf '$P/.unikraft'; sync" \
    "cd '$P' && KILN_CACHE_DIR='$W/cache-$which-old' '$OLD' build 2>/dev/null" \
    -n "after (hash-checked reads)" --prepare "rm -rf '$P/.unikraft'; sync" \
    "cd '$P' && KILN_CACHE_DIR='$W/cache-$which-new' '$NEW' build 2>/dev/null"
done
