#!/usr/bin/env python3
"""Time from starting a command to the first byte it writes on stdout, side by side.

    python3 benches/first_output.py RUNS NAME1 'CMD1' NAME2 'CMD2' ...

Each command runs RUNS times, alternating with the others so both see the same machine
state; each run is a fresh process (shell syntax allowed). Prints min / median / mean in
milliseconds per command. Used by benches/run.sh for the `kiln run` vs plain QEMU figure.
"""
import os
import select
import statistics
import subprocess
import sys
import time


def first_byte_ms(cmd: str) -> float:
    start = time.perf_counter()
    p = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    assert p.stdout is not None
    fd = p.stdout.fileno()
    elapsed = float("nan")
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        if os.read(fd, 65536):
            elapsed = (time.perf_counter() - start) * 1000
            break
        break  # EOF before any output
    try:
        os.killpg(p.pid, 9)
    except ProcessLookupError:
        pass
    p.wait()
    return elapsed


def main() -> None:
    runs = int(sys.argv[1])
    pairs = list(zip(sys.argv[2::2], sys.argv[3::2]))
    results = {name: [] for name, _ in pairs}
    for _ in range(runs):
        for name, cmd in pairs:
            results[name].append(first_byte_ms(cmd))
    print(f"{'command':<52} {'min':>8} {'median':>8} {'mean':>8}  (ms to first stdout byte, {runs} runs)")
    for name, times in results.items():
        print(f"{name:<52} {min(times):8.1f} {statistics.median(times):8.1f} {statistics.mean(times):8.1f}")


if __name__ == "__main__":
    main()
