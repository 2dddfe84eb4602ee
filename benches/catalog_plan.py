#!/usr/bin/env python3
"""Plans every Kraftfile of a unikraft/catalog checkout offline, the way its README runs it,
and counts the exits and the reasons steps are unresolved (issue 8's must-show).

    python3 benches/catalog_plan.py /path/to/catalog [path/to/kiln]

The invocation: in the Kraftfile's directory, `kiln plan --offline -o json` (with
`--plat qemu -m x86_64` when the README next to it passes them); for an app whose parent's
README runs `kraft run ... -K <app>/Kraftfile` (tests/os-demo), from the parent with `-K`.
A private cache, state and home are used (under /tmp/kiln-catalog-plan), so nothing local
resolves by accident."""
import collections
import json
import os
import subprocess
import sys

NAMES = ("Kraftfile", "kraft.yaml", "kraft.yml", "Kraftfile.yml", "Kraftfile.yaml")


def readme(d):
    p = os.path.join(d, "README.md")
    return open(p, errors="replace").read() if os.path.exists(p) else ""


def invocation(catalog, kraftfile):
    d = os.path.dirname(kraftfile)
    parent = os.path.dirname(d)
    here = readme(d)
    up = readme(parent)
    base = os.path.basename(d)
    flags = []
    if f"-K {base}/" in up or "-K app/Kraftfile" in up:
        text, cwd, tail = up, parent, ["-K", f"{base}/{os.path.basename(kraftfile)}"]
    else:
        text, cwd, tail = here, d, []
    if "--plat qemu" in text:
        flags += ["--plat", "qemu"]
    if "--arch x86_64" in text:
        flags += ["-m", "x86_64"]
    return cwd, ["plan", "--offline", "-o", "json"] + flags + tail


def category(why):
    if "has not pulled this image" in why:
        return "a Dockerfile's base image never pulled (offline)"
    if "Dockerfile" in why:
        return "rootfs from a Dockerfile (the rootfs issue)"
    if "kiln has not pulled" in why:
        return "a runtime package never pulled (offline)"
    if "network" in why or "--offline" in why:
        return "a git source never fetched (offline)"
    return why[:80]


def main():
    catalog = os.path.abspath(sys.argv[1])
    kiln = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "target/release/kiln")
    scratch = "/tmp/kiln-catalog-plan"
    env = dict(os.environ, KILN_WATCH="off", KILN_CACHE_DIR=f"{scratch}/cache",
               XDG_STATE_HOME=f"{scratch}/state", HOME=f"{scratch}/home")
    env.pop("KILN_CONFIG", None)
    env.pop("XDG_CONFIG_HOME", None)
    for sub in ("cache", "state", "home"):
        os.makedirs(f"{scratch}/{sub}", exist_ok=True)
    files = sorted(os.path.join(r, f) for r, ds, fs in os.walk(catalog)
                   if ".git" not in r.split(os.sep) for f in fs if f in NAMES)
    exits, reasons, failures = collections.Counter(), collections.Counter(), []
    resolved = 0
    for k in files:
        cwd, args = invocation(catalog, k)
        r = subprocess.run([kiln] + args, cwd=cwd, env=env, capture_output=True, text=True)
        exits[r.returncode] += 1
        if r.returncode != 0:
            first = next((l for l in r.stderr.splitlines() if l.strip()), "")
            failures.append((os.path.relpath(k, catalog), r.returncode, first))
            continue
        seen = set()
        for t in json.loads(r.stdout).get("targets", []):
            for st in t.get("steps", []):
                if st.get("status") == "unresolved":
                    seen.add(category(st.get("unresolved") or ""))
                if st.get("status") == "failed":
                    seen.add("a failed step: " + (st.get("error") or "")[:100])
        resolved += not seen
        reasons.update(seen)
    print(f"{len(files)} Kraftfiles; exits: " + ", ".join(f"{c}: {n}" for c, n in sorted(exits.items())))
    for path, code, line in failures:
        print(f"  exit {code}: {path}: {line}")
    print(f"projects with every step resolved: {resolved}")
    for why, n in reasons.most_common():
        print(f"projects with a step unresolved because of {why}: {n}")


if __name__ == "__main__":
    main()
