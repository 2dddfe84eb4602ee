#!/usr/bin/env bash
# The download cache (issue 8): a cold `kiln fetch` against plain `wget` of the same URLs
# from the same loopback server, side by side in one hyperfine run, then a second fetch,
# which must make zero requests (the server's log is counted).
#
#   bash benches/downloads.sh [WORKDIR]        (default /tmp/kiln-downloads-bench)
#
# The project: the test kernel as the core and four libraries whose Makefile.uk fetch one
# archive each (2, 16, 48 and 128 MiB of incompressible bytes in a .tar.gz), served by
# tests/support/http_server.py. Three kiln variants: fully cold (empty cache: kconfig,
# `make -n fetch`, downloads hashed and stored), downloads cold (the step cache warm, the
# download cache emptied), and warm (everything cached). Needs hyperfine, python3, wget.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "install hyperfine (apt-get install hyperfine)" >&2; exit 1; }
command -v wget >/dev/null || { echo "install wget (apt-get install wget)" >&2; exit 1; }
W="${1:-/tmp/kiln-downloads-bench}"
cargo build --release --quiet -p kiln
K="$PWD/target/release/kiln"
TK="$PWD/testkernel"
export KILN_WATCH=0
rm -rf "$W" && mkdir -p "$W/www" "$W/app" "$W/server"

# Deterministic incompressible archives.
python3 - "$W/www" <<'PY'
import io, random, sys, tarfile
for name, mib in [("a", 2), ("b", 16), ("c", 48), ("d", 128)]:
    rnd = random.Random(name)
    data = rnd.randbytes(mib << 20)
    with tarfile.open(f"{sys.argv[1]}/{name}-1.0.tar.gz", "w:gz", compresslevel=1) as t:
        info = tarfile.TarInfo(f"{name}-1.0/data.bin")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
PY
ls -l "$W/www"
python3 tests/support/http_server.py "$W/www" "$W/server/port" "$W/server/log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
while [ ! -e "$W/server/port" ]; do sleep 0.05; done
PORT=$(cat "$W/server/port")
URLS=()
LIBS=""
for n in a b c d; do
  url="http://127.0.0.1:$PORT/$n-1.0.tar.gz"
  URLS+=("$url")
  mkdir -p "$W/lib$n"
  printf '$(eval $(call addlib,lib%s))\n$(eval $(call fetch,lib%s,%s))\n' "$n" "$n" "$url" > "$W/lib$n/Makefile.uk"
  LIBS="$LIBS  lib$n:\n    source: $W/lib$n\n"
done
printf "spec: v0.6\nname: dl\nunikraft:\n  source: %s\nlibraries:\n$LIBS""targets:\n  - qemu/x86_64\n" "$TK" > "$W/app/Kraftfile"
cp "$TK/example-app/main.c" "$W/app/"
WGET_ALL="cd '$W' && mkdir wget && for u in ${URLS[*]}; do wget -q -O wget/\$(basename \$u) \$u; done"

echo; echo "== cold: kiln fetch vs wget of the same 4 URLs (194 MiB) from the same server =="
hyperfine --warmup 1 --runs 5 --export-markdown "$W/cold.md" \
  -n "wget, the 4 URLs one after another" --prepare "rm -rf '$W/wget'" "$WGET_ALL" \
  -n "kiln fetch, cold (empty cache)" --prepare "rm -rf '$W/cache' '$W/app/.unikraft' '$W/app/Kraftfile.lock'" \
  "cd '$W/app' && KILN_CACHE_DIR='$W/cache' '$K' fetch 2>/dev/null" \
  -n "kiln fetch, downloads cold (step cache warm)" --prepare "rm -rf '$W/cache/downloads' '$W/app/Kraftfile.lock'" \
  "cd '$W/app' && KILN_CACHE_DIR='$W/cache' '$K' fetch 2>/dev/null"

echo; echo "== warm: a second kiln fetch =="
(cd "$W/app" && KILN_CACHE_DIR="$W/cache" "$K" fetch 2>/dev/null)
before=$(wc -l < "$W/server/log")
hyperfine --warmup 1 --runs 10 --export-markdown "$W/warm.md" \
  -n "kiln fetch, warm" "cd '$W/app' && KILN_CACHE_DIR='$W/cache' '$K' fetch 2>/dev/null"
after=$(wc -l < "$W/server/log")
echo "requests made by the $((10 + 1)) warm fetches: $((after - before))"
[ "$after" = "$before" ] || { echo "a warm fetch asked the server" >&2; exit 1; }
cat "$W/cold.md" "$W/warm.md"
