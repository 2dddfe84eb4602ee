#!/usr/bin/env bash
# OCI packages (issue 9), side by side with skopeo in the same hyperfine runs, against
# Debian's docker-registry on loopback:
#   1. `kiln pkg` of a built project: a no-op, and a first package (a new name each run),
#      against `skopeo copy` of the same image from an OCI layout into the registry;
#   2. push of a package with a ~100 MiB initrd to an emptied registry, against `skopeo copy`
#      of the same image from an OCI layout; then the blobs a second push uploads (0);
#   3. pull of it into an empty cache, against `skopeo copy` from the registry to a layout.
#
#   bash benches/pkg.sh [WORKDIR]        (default /tmp/kiln-pkg-bench)
#
# Needs hyperfine, docker-registry, skopeo, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in hyperfine docker-registry skopeo python3; do
  command -v "$t" >/dev/null || { echo "install $t" >&2; exit 1; }
done
W="${1:-/tmp/kiln-pkg-bench}"
cargo build --release --quiet -p kiln
K="$PWD/target/release/kiln"
TK="$PWD/testkernel"
export KILN_WATCH=0 KILN_CACHE_DIR="$W/cache" HOME="$W/home" SOURCE_DATE_EPOCH=1700000000
rm -rf "$W" && mkdir -p "$W/app/rootfs/data" "$W/reg" "$W/home"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG="127.0.0.1:$PORT"
cat > "$W/reg/config.yml" <<YML
version: 0.1
log: {level: info, formatter: text}
storage: {filesystem: {rootdirectory: "$W/reg/data"}, delete: {enabled: true}}
http: {addr: "$REG"}
YML
docker-registry serve "$W/reg/config.yml" > "$W/reg/log" 2>&1 &
REGPID=$!
trap 'kill $REGPID 2>/dev/null || true' EXIT
until grep -q "listening on" "$W/reg/log"; do sleep 0.05; done

# A kernel project on the test kernel whose rootfs holds 100 MiB of incompressible bytes.
python3 -c "import random,sys; sys.stdout.buffer.write(random.Random(9).randbytes(100<<20))" > "$W/app/rootfs/data/blob.bin"
printf 'spec: v0.6\nname: big\nunikraft:\n  source: %s\nrootfs: ./rootfs\ntargets:\n  - qemu/x86_64\n' "$TK" > "$W/app/Kraftfile"
cp "$TK/example-app/main.c" "$W/app/"
cd "$W/app"
"$K" build >/dev/null 2>&1
"$K" pkg --name "$REG/big:1" 2>&1 | tail -1
"$K" pkg export "$REG/big:1" "$W/layout" 2>/dev/null
du -sh "$W/layout"

echo; echo "== 1. kiln pkg of a built project: a no-op, a first package, and skopeo copy of the same image into the registry =="
hyperfine --warmup 2 --runs 10 --export-markdown "$W/pkg.md" \
  -n "kiln pkg (no-op)" "'$K' pkg --name '$REG/big:1' 2>/dev/null" \
  -n "kiln pkg (first package: a new name)" "'$K' pkg --name '$REG/big:run'\$(date +%N) 2>/dev/null" \
  -n "skopeo copy oci:layout -> registry" --prepare "rm -rf '$W/reg/data/docker'" \
  "skopeo copy --all --preserve-digests -q --dest-tls-verify=false oci:'$W/layout':1 docker://$REG/big:1"

echo; echo "== 2. push of the ~100 MiB package to an emptied registry, vs skopeo copy of the same image =="
hyperfine --warmup 1 --runs 5 --export-markdown "$W/push.md" \
  -n "kiln pkg push" --prepare "rm -rf '$W/reg/data/docker'" "'$K' pkg push '$REG/big:1' 2>/dev/null" \
  -n "skopeo copy oci:layout -> registry" --prepare "rm -rf '$W/reg/data/docker'" \
  "skopeo copy --all --preserve-digests -q --dest-tls-verify=false oci:'$W/layout':1 docker://$REG/big:1"
rm -rf "$W/reg/data/docker"
"$K" pkg push "$REG/big:1" 2>&1
before=$(grep -c '"PUT /v2/big/blobs/uploads/' "$W/reg/log" || true)
"$K" pkg push "$REG/big:1" 2>&1
after=$(grep -c '"PUT /v2/big/blobs/uploads/' "$W/reg/log" || true)
echo "blobs uploaded by the second push (registry log): $((after - before))"

echo; echo "== 3. pull into an empty cache, vs skopeo copy registry -> OCI layout =="
hyperfine --warmup 1 --runs 5 --export-markdown "$W/pull.md" \
  -n "kiln pkg pull (empty cache)" --prepare "rm -rf '$W/cache2'" \
  "KILN_CACHE_DIR='$W/cache2' '$K' pkg pull '$REG/big:1' 2>/dev/null" \
  -n "skopeo copy registry -> oci:layout" --prepare "rm -rf '$W/pulled'" \
  "skopeo copy --all --preserve-digests -q --src-tls-verify=false docker://$REG/big:1 oci:'$W/pulled':1"
echo; cat "$W/pkg.md" "$W/push.md" "$W/pull.md"
