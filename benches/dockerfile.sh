#!/usr/bin/env bash
# Dockerfile rootfs (issue 10), side by side with buildah 1.28 in the same hyperfine runs, on a
# catalog-shaped multi-stage Dockerfile: a build stage on a base image (busybox, libc, libm
# and ~40 MiB of shared libraries from the host, pushed to Debian's docker-registry on
# loopback) with a RUN, then a scratch stage with 60 `COPY --from=build` of files,
# directories and symlinked libraries and one context COPY.
#   1. cold: empty caches, the base image pulled from the registry. kiln build (initrd
#      included) vs buildah bud (vfs, chroot isolation) followed by GNU cpio of its output;
#   2. rebuild after editing the one context file the last stage copies: kiln vs buildah bud
#      --layers (its own layer cache) + cpio; the RUN runs in neither;
#   3. a no-op kiln build, and the files it writes (find -newer).
#
#   bash benches/dockerfile.sh [WORKDIR]      (default /tmp/kiln-dockerfile-bench)
#
# Needs hyperfine, docker-registry, buildah, busybox-static, cpio, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in hyperfine docker-registry buildah cpio python3; do
  command -v "$t" >/dev/null || { echo "install $t" >&2; exit 1; }
done
W="${1:-/tmp/kiln-dockerfile-bench}"
cargo build --release --quiet -p kiln
K="$PWD/target/release/kiln"
export KILN_WATCH=0 KILN_CACHE_DIR="$W/cache" HOME="$W/home" SOURCE_DATE_EPOCH=1700000000
rm -rf "$W" && mkdir -p "$W/reg" "$W/home" "$W/base/bin" "$W/base/usr/lib/x86_64-linux-gnu" "$W/app/src" "$W/app/conf"
B="buildah --root $W/bstore/root --runroot $W/bstore/run --storage-driver vfs"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG="127.0.0.1:$PORT"
cat > "$W/reg/config.yml" <<YML
version: 0.1
log: {level: info, formatter: text}
storage: {filesystem: {rootdirectory: "$W/reg/data"}}
http: {addr: "$REG"}
YML
docker-registry serve "$W/reg/config.yml" > "$W/reg/log" 2>&1 &
REGPID=$!
trap 'kill $REGPID 2>/dev/null || true' EXIT
until grep -q "listening on" "$W/reg/log"; do sleep 0.05; done

# The base image.
cp /bin/busybox "$W/base/bin/"
for a in sh mkdir cp ln echo cat rm ls; do ln -s busybox "$W/base/bin/$a"; done
# Real shared libraries of under 1.5 MiB, up to ~40 MiB, each with a soname-style symlink;
# the last stage copies 40 of them (through the symlinks, as the catalog does).
n=0
for f in /usr/lib/x86_64-linux-gnu/*.so.*; do
  [ -f "$f" ] && [ ! -L "$f" ] && [ "$(stat -c %s "$f")" -lt 1500000 ] || continue
  b=$(basename "$f")
  cp "$f" "$W/base/usr/lib/x86_64-linux-gnu/$b.real"
  ln -s "$b.real" "$W/base/usr/lib/x86_64-linux-gnu/$b"
  n=$((n + 1))
  [ $n -lt 40 ] || [ "$(du -sm "$W/base" | cut -f1)" -lt 40 ] || break
done
ln -s usr/lib "$W/base/lib"
(cd "$W/base/usr/lib/x86_64-linux-gnu" && ls | grep -v '\.real$' | head -40 > "$W/libs.txt")
printf 'FROM scratch\nCOPY base/ /\nENV PATH=/bin\n' > "$W/base.Dockerfile"
$B bud -q --isolation chroot -t localhost/bench-base -f "$W/base.Dockerfile" "$W" >/dev/null
$B push -q --tls-verify=false localhost/bench-base "docker://$REG/base:1"
echo "base image: $(du -sh "$W/base" | cut -f1), $n libraries"

# The project.
for i in $(seq -w 0 29); do head -c 20000 /dev/urandom | base64 > "$W/app/src/f$i.txt"; done
echo "port=80" > "$W/app/conf/app.conf"
printf 'spec: v0.6\nname: bench\nruntime: base:latest\nrootfs: ./Dockerfile\n' > "$W/app/Kraftfile"
{
  echo "FROM $REG/base:1 AS build"
  echo "WORKDIR /src"
  echo "COPY src/ ./"
  echo "RUN mkdir -p /out/bin /out/share && cp /src/*.txt /out/share/ && echo built > /out/bin/app && ln -s app /out/bin/app-link"
  echo "FROM scratch"
  echo "COPY --from=build /out /"
  while read -r lib; do echo "COPY --from=build /lib/x86_64-linux-gnu/$lib /lib/x86_64-linux-gnu/"; done < "$W/libs.txt"
  for i in $(seq -w 0 29); do echo "COPY --from=build /src/f$i.txt /data/"; done
  echo "COPY conf/app.conf /etc/app.conf"
} > "$W/app/Dockerfile"
echo "Dockerfile: $(grep -c '^COPY --from' "$W/app/Dockerfile") COPY --from, $(wc -l < "$W/app/Dockerfile") lines"

BUD="$B bud -q --isolation chroot --tls-verify=false --output type=local,dest=$W/out -f $W/app/Dockerfile $W/app >/dev/null && (cd $W/out && find . | LC_ALL=C sort | cpio -o -H newc --quiet > $W/out.cpio)"
BUDL="$B bud -q --layers --isolation chroot --tls-verify=false --output type=local,dest=$W/out -f $W/app/Dockerfile $W/app >/dev/null && (cd $W/out && find . | LC_ALL=C sort | cpio -o -H newc --quiet > $W/out.cpio)"
cd "$W/app"

echo; echo "== 1. cold build: empty caches, base image in the registry =="
hyperfine --runs 3 --export-markdown "$W/cold.md" \
  -n "kiln build (cold)" --prepare "rm -rf '$W/cache' '$W/app/.unikraft'" "'$K' build >/dev/null 2>&1" \
  -n "buildah bud + GNU cpio (cold)" --prepare "$B rm -a >/dev/null 2>&1; $B rmi -a -f >/dev/null 2>&1; rm -rf '$W/out'" "$BUD"

echo; echo "== 2. rebuild after editing one copied context file =="
"$K" build >/dev/null 2>&1
rm -rf "$W/out"; eval "$BUDL"
EDIT="python3 -c \"import random; open('$W/app/conf/app.conf','w').write('port=%d\\\\n' % random.randrange(1<<30))\""
hyperfine --runs 10 --export-markdown "$W/rebuild.md" \
  -n "kiln build (one file edited)" --prepare "$EDIT" "'$K' build >/dev/null 2>&1" \
  -n "buildah bud --layers + GNU cpio (one file edited)" --prepare "$EDIT; rm -rf '$W/out'" "$BUDL"
python3 -c "open('$W/app/conf/app.conf','w').write('port=1\n')"
"$K" build -o json 2>/dev/null | python3 -c "
import json,sys; d=json.load(sys.stdin)
ran=[s['id'] for s in d['targets'][0]['steps'] if s['status']=='ran']
print('after one more edit, kiln ran:', ran)"

echo; echo "== 3. no-op =="
"$K" build >/dev/null 2>&1; sleep 0.3; "$K" build >/dev/null 2>&1; sleep 0.3
touch "$W/marker"; sleep 0.05
hyperfine --warmup 2 --runs 20 --export-markdown "$W/noop.md" -n "kiln build (no-op)" "'$K' build >/dev/null 2>&1"
echo "files written by the no-ops: $(find "$W/cache" "$W/app" -newer "$W/marker" -type f | wc -l)"
cat "$W/cold.md" "$W/rebuild.md" "$W/noop.md"
