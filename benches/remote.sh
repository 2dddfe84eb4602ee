#!/usr/bin/env bash
# Reproduces the remote-cache figures in BENCHMARKS.md with real Unikraft (RELEASE-0.17.0)
# and examples/catmotd for qemu/x86_64 and fc/x86_64, against nginx (WebDAV, the Bazel HTTP
# protocol) and BuildGrid (REAPI), both on loopback, each compared in one hyperfine run:
#
#   bash benches/remote.sh /path/to/unikraft [WORKDIR]
#
# Needs hyperfine, nginx and the BuildGrid virtualenv scripts/test.sh makes
# (target/test-venv), plus what benches/unikraft.sh needs.
#  1. cold build (empty local cache, empty remote; uploads included) vs a clean clone at
#     another path with an empty local cache and a warm remote;
#  2. a no-op build with and without the remote configured (and the requests it made);
#  3. a second checkout whose results are all in the local cache, with and without remote.
# SECTIONS=warm,upload,overhead (the default: all) picks some.
set -euo pipefail
cd "$(dirname "$0")/.."
UK="$(cd "${1:?usage: benches/remote.sh /path/to/unikraft [WORKDIR]}" && pwd)"
W="${2:-/tmp/kiln-bench-remote}"
cargo build --release --quiet
KILN="$PWD/target/release/kiln"
BGD="$PWD/target/test-venv/bin/bgd"
rm -rf "$W" && mkdir -p "$W"
export KILN_WATCH=0
# nginx with WebDAV on 127.0.0.1:18090.
mkdir -p "$W/nginx/root/cache" "$W/nginx/tmp"
chmod -R 777 "$W/nginx"
chmod 755 "$W"
cat > "$W/nginx/nginx.conf" <<EOF
daemon off; worker_processes 1; pid $W/nginx/pid; error_log $W/nginx/error.log;
events {}
http { access_log $W/nginx/access.log; client_body_temp_path $W/nginx/tmp;
  server { listen 127.0.0.1:18090; root $W/nginx/root; client_max_body_size 0;
    location /cache/ { dav_methods PUT; create_full_put_path on; dav_access user:rw all:rw; } } }
EOF
nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" & NGINX=$!
# BuildGrid (cache only) on 127.0.0.1:18091.
mkdir -p "$W/bgd/cas"
cat > "$W/bgd/cfg.yml" <<EOF
server:
  - !channel
    address: "127.0.0.1:18091"
    insecure-mode: true
storages:
  - !disk-storage &main
    path: $W/bgd/cas
caches:
  - !lru-action-cache &ac
    storage: *main
    max-cached-refs: 10000
    allow-updates: true
instances:
  - name: ''
    services:
      - !action-cache
        cache: *ac
      - !cas
        storage: *main
      - !bytestream
        storage: *main
EOF
(cd "$W/bgd" && exec "$BGD" server start cfg.yml >"$W/bgd/log" 2>&1) & BG=$!
trap 'kill $NGINX $BG 2>/dev/null || true' EXIT
for port in 18090 18091; do
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

HTTP=http://127.0.0.1:18090/cache/
GRPC=grpc://127.0.0.1:18091
# APP=DIR takes another project (its Kraftfile's last line must be a target; e.g. one on
# the test kernel, with /path/to/unikraft = testkernel).
APP="${APP:-examples/catmotd}"
clone() { rm -rf "$W/$1" && cp -a "$APP" "$W/$1" && printf '  - fc/x86_64\n' >> "$W/$1/Kraftfile"; }

# No --offline: it turns the remote cache off (catmotd has no library to fetch anyway).
build() { # DIR CACHE [ARGS...]
  local d=$1 c=$2; shift 2
  (cd "$W/$d" && KILN_CACHE_DIR="$W/$c" "$KILN" build -j2 --source "unikraft=$UK" "$@" 2>/dev/null)
}
export -f clone build; export W KILN UK APP

SECTIONS="${SECTIONS:-warm,upload,overhead}"
on() { [[ ",$SECTIONS," == *",$1,"* ]]; }

on warm && for proto in http grpc; do
  url=$HTTP; [ $proto = grpc ] && url=$GRPC
  clone seed-$proto && build seed-$proto cache-seed-$proto --remote-cache $url
  echo "== $proto: cold build vs a clean clone at another path, empty local cache, warm remote =="
  hyperfine -S bash --runs 3 --export-markdown "$W/$proto-warm.md" \
    --prepare "clone cold; rm -rf '$W/cache-cold'" \
    -n 'cold: clean clone, empty local cache, no remote' "build cold cache-cold" \
    --prepare "clone warm; rm -rf '$W/cache-warm'" \
    -n "clean clone, empty local cache, warm remote ($proto)" \
    "build warm cache-warm --remote-cache $url"
done

on upload && {
echo "== cold build that uploads everything (HTTP, a new prefix each run) vs no remote =="
hyperfine -S bash --runs 3 --export-markdown "$W/upload.md" \
  --prepare "clone up; rm -rf '$W/cache-up'" -n 'cold, no remote' "build up cache-up" \
  --prepare "clone up; rm -rf '$W/cache-up'" -n 'cold, uploading to an empty HTTP cache' \
  "build up cache-up --remote-cache ${HTTP}run-\$(date +%s%N)/"
}

on overhead && {
echo "== no-op build: no remote vs remote configured (it must send nothing) =="
clone noop && build noop cache-noop --remote-cache $HTTP
before=$(wc -l < "$W/nginx/access.log")
hyperfine -S bash --warmup 2 --runs 10 --export-markdown "$W/noop.md" \
  -n 'no-op, no remote' "build noop cache-noop" \
  -n 'no-op, --remote-cache (HTTP)' "build noop cache-noop --remote-cache $HTTP" \
  -n 'no-op, --remote-cache (gRPC)' "build noop cache-noop --remote-cache $GRPC"
echo "requests the no-op builds sent: $(( $(wc -l < "$W/nginx/access.log") - before )) (HTTP)"

echo "== a second checkout, every result in the local cache: no remote vs remote configured =="
before=$(wc -l < "$W/nginx/access.log")
hyperfine -S bash --warmup 1 --runs 10 --export-markdown "$W/localhit.md" \
  --prepare "clone hit" -n 'local hits, no remote' "build hit cache-noop" \
  --prepare "clone hit" -n 'local hits, --remote-cache (HTTP)' "build hit cache-noop --remote-cache $HTTP"
echo "requests the local-hit builds sent: $(( $(wc -l < "$W/nginx/access.log") - before ))"
}
echo; echo "markdown tables: $W/*.md"
