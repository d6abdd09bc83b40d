"""How long `polydesk --help` takes, against `sqlite-utils --help`, measured in the same run.

    .venv/bin/python scripts/bench_startup.py [--runs 20]

Prints the median and p95 wall time of each and the ratio polydesk / sqlite-utils.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def wall_times(argv: list[str], runs: int) -> list[float]:
    subprocess.run(argv, capture_output=True, check=True)  # warm the page cache once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return sorted(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    results = {}
    for name in ("polydesk", "sqlite-utils"):
        times = wall_times([str(BIN / name), "--help"], args.runs)
        results[name] = statistics.median(times)
        p95 = times[int(0.95 * (len(times) - 1))]
        label = f"{name} --help"
        print(f"{label:24} median {results[name] * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms")
    ratio = results["polydesk"] / results["sqlite-utils"]
    print(f"ratio polydesk / sqlite-utils: {ratio:.2f} (below 1 means polydesk starts faster)")


if __name__ == "__main__":
    main()
