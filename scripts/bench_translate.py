"""Translation speed on this machine: polydesk vs raw CTranslate2 vs Argos Translate, zh->en.

Same run, same model (the installed zh->en package), same NTREX dev lines; each system runs in
its own process, so its peak RSS is its own. Reported per system: sentences/s, target tokens/s
(tokens of the output counted with sacrebleu's 13a tokenizer, the same for every system, since
Argos gives only text), chrF, peak RSS; for polydesk also the p50/p95 latency of one ticket
(two NTREX lines, translated alone, memory off) and the ratios to the others measured here.

Raw CTranslate2 is run in a few good settings (batches of 2,048 tokens or 32 sentences; one
worker on both cores or two on one each) and the best one per beam is the reference.
Argos Translate 1.9.6 (it runs offline on the stanza model inside the package; 1.11 does not)
needs torch, so it lives in its own venv, created on request:

    python scripts/bench_translate.py                     # polydesk and raw CTranslate2
    python scripts/bench_translate.py --with-argos        # + Argos (creates the bench venv once)
    python scripts/bench_translate.py --lines 100 --beams 1 --json
    python scripts/bench_translate.py --with-argos --repeat 2   # on a busy machine

The bench venv gets the CPU wheel torch==2.13.0 first (so argostranslate does not pull CUDA),
then argostranslate==1.9.6. No timing here is a test: tests never assert on time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NTREX = REPO.parent / "shared" / "datasets" / "ntrex-dev"
PACKAGE = REPO / "models" / "build" / "argos" / "zh_en.argosmodel"
ARGOS_VENV = Path(tempfile.gettempdir()) / "polydesk-bench-argos"
ARGOS_PINS = (["torch==2.13.0"], ["argostranslate==1.9.6"])
RAW_SETTINGS = (
    ("2048 tokens", 1, 2),
    ("2048 tokens", 2, 1),
    ("1024 tokens", 2, 1),
    ("32 sentences", 1, 2),
)
LATENCY_TICKETS = 60


def lines(count: int, lang: str) -> list[str]:
    if count > 1000:
        raise SystemExit("--lines: at most 1000")
    return (NTREX / f"{lang}.txt").read_text("utf-8").splitlines()[:count]


# -- workers (each in its own process) -------------------------------------------------------


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def worker_raw(src: list[str], beam: int, batch: str, inter: int, intra: int) -> dict[str, Any]:
    from report_translation import raw_model, raw_translate

    from polydesk.translate import packages

    model = raw_model(packages.available()["zh-en"], inter, intra)
    count, unit = batch.split()
    start = time.perf_counter()
    hyps = raw_translate(
        model, src, beam, (int(count), "tokens" if unit == "tokens" else "examples")
    )
    return {"seconds": time.perf_counter() - start, "hyps": hyps, "rss_mb": _rss_mb()}


def worker_polydesk(src: list[str], beam: int) -> dict[str, Any]:
    from polydesk.translate import Translator

    translator = Translator(beam_size=beam)  # no memory: every sentence goes to the model
    translator.engine(translator.models["zh-en"]).load()
    start = time.perf_counter()
    hyps = [t.text for t in translator.translate(src, "zh", "en")]
    seconds = time.perf_counter() - start
    pool = lines(2 * LATENCY_TICKETS, "zh")
    tickets = [" ".join(pool[i : i + 2]) for i in range(0, len(pool), 2)]
    latencies = []
    for ticket in tickets:
        began = time.perf_counter()
        translator.translate([ticket], "zh", "en")
        latencies.append(time.perf_counter() - began)
    cuts = statistics.quantiles(latencies, n=20)
    return {
        "seconds": seconds,
        "hyps": hyps,
        "rss_mb": _rss_mb(),
        "latency_p50_ms": round(statistics.median(latencies) * 1000),
        "latency_p95_ms": round(cuts[18] * 1000),
    }


def worker_argos(src: list[str], package: str) -> dict[str, Any]:
    """Argos Translate as operators use it: one ``translate`` call per text (beam 4 inside)."""
    os.environ["HOME"] = tempfile.mkdtemp(prefix="argos-home-")  # its own packages dir
    for name in ("ARGOS_PACKAGES_DIR", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        os.environ.pop(name, None)
    import argostranslate.package
    import argostranslate.translate

    argostranslate.package.install_from_path(package)
    languages = {lang.code: lang for lang in argostranslate.translate.get_installed_languages()}
    translation = languages["zh"].get_translation(languages["en"])
    translation.translate(src[0])  # load the model and stanza once, untimed
    start = time.perf_counter()
    hyps = [translation.translate(text) for text in src]
    return {"seconds": time.perf_counter() - start, "hyps": hyps, "rss_mb": _rss_mb()}


def _run_worker(python: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [python, __file__, "--worker", *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"worker {args} failed:\n{out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.splitlines()[-1]))


# -- the Argos bench venv --------------------------------------------------------------------


def argos_python(venv: Path) -> str:
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import argostranslate"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python)
    print(
        f"creating the Argos bench venv in {venv} (torch CPU + argostranslate) ...", file=sys.stderr
    )
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for pins in ARGOS_PINS:
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *pins], check=True)
    return str(python)


# -- the report ------------------------------------------------------------------------------


def score(result: dict[str, Any], refs: list[str]) -> dict[str, Any]:
    import sacrebleu
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    hyps = result.pop("hyps")
    tokenize = Tokenizer13a()
    target_tokens = sum(len(tokenize(h).split()) for h in hyps)
    seconds = result["seconds"]
    return {
        **result,
        "seconds": round(seconds, 2),
        "sentences_per_s": round(len(hyps) / seconds, 2),
        "tokens_per_s": round(target_tokens / seconds, 1),
        "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2),
    }


def jobs(args: argparse.Namespace) -> list[tuple[str, int, str, list[str]]]:
    """(system, beam, setting, worker command) for every run of the bench."""
    out = []
    for beam in args.beams:
        for batch, inter, intra in RAW_SETTINGS:
            worker = [sys.executable, "raw", str(beam), batch, str(inter), str(intra)]
            out.append(("raw CT2", beam, f"{batch}, {inter}x{intra} threads", worker))
        out.append(("polydesk", beam, "defaults", [sys.executable, "polydesk", str(beam)]))
    if args.with_argos:
        python = argos_python(args.argos_venv)
        out.append(("argos", 4, "argostranslate 1.9.6", [python, "argos", str(PACKAGE)]))
    return out


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every job ``--repeat`` times, round-robin so a busy spell hits them all alike; the
    fastest run of each is kept (noise only ever slows a run down)."""
    refs = lines(args.lines, "en")
    planned = jobs(args)
    best: dict[int, dict[str, Any]] = {}
    for _ in range(args.repeat):
        for index, (system, beam, setting, (python, *worker)) in enumerate(planned):
            row = score(_run_worker(python, *worker, "--lines", str(args.lines)), refs)
            speed = f"{row['sentences_per_s']:6.2f} sent/s {row['tokens_per_s']:7.1f} tok/s"
            print(f"{system:9} beam {beam} {setting:28} {speed}", file=sys.stderr)
            if index not in best or row["seconds"] < best[index]["seconds"]:
                best[index] = {"system": system, "beam": beam, "setting": setting, **row}
    return [best[i] for i in sorted(best)]


def ratios(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for row in (r for r in rows if r["system"] == "polydesk"):
        raws = [r for r in rows if r["system"] == "raw CT2" and r["beam"] == row["beam"]]
        best = max(raws, key=lambda r: r["sentences_per_s"])
        out.append(
            f"beam {row['beam']}: polydesk / best raw CTranslate2 ({best['setting']}) = "
            f"{row['sentences_per_s'] / best['sentences_per_s']:.2f}x (goal >= 0.9x)"
        )
        argos = [r for r in rows if r["system"] == "argos" and r["beam"] == row["beam"]]
        if argos:
            out.append(
                f"beam {row['beam']}: polydesk / argostranslate = "
                f"{row['sentences_per_s'] / argos[0]['sentences_per_s']:.1f}x "
                f"(goal >= 5x; chrF {row['chrf']:.1f} vs {argos[0]['chrf']:.1f})"
            )
    return out


def markdown(rows: list[dict[str, Any]], count: int) -> str:
    out = [
        f"NTREX dev zh->en, first {count} lines, {os.cpu_count()} cores",
        "",
        "| system | beam | setting | sent/s | target tok/s | chrF | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['system']} | {r['beam']} | {r['setting']} | {r['sentences_per_s']:.2f} | "
            f"{r['tokens_per_s']:.0f} | {r['chrf']:.1f} | {r['rss_mb']:.0f} |"
        )
    out.append("")
    for r in (r for r in rows if r["system"] == "polydesk"):
        out.append(
            f"one ticket (2 lines), beam {r['beam']}: p50 {r['latency_p50_ms']} ms, "
            f"p95 {r['latency_p95_ms']} ms"
        )
    return "\n".join(out + ratios(rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300, help="First N NTREX lines (<= 1000).")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--with-argos", action="store_true", help="Also run Argos Translate.")
    parser.add_argument("--repeat", type=int, default=1, help="Runs per job; the fastest counts.")
    parser.add_argument("--argos-venv", type=Path, default=ARGOS_VENV)
    parser.add_argument("--json", action="store_true", help="All rows as JSON on stdout.")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args.worker, lines(args.lines, "zh"))
    before = os.getloadavg()[0]
    rows = measure(args)
    load = f"load average {before:.1f} before, {os.getloadavg()[0]:.1f} after (other processes)"
    print(load, file=sys.stderr)
    print(json.dumps(rows, indent=2) if args.json else markdown(rows, args.lines) + "\n" + load)
    return 0


def _worker(spec: list[str], src: list[str]) -> int:
    name, *rest = spec
    if name == "raw":
        result = worker_raw(src, int(rest[0]), rest[1], int(rest[2]), int(rest[3]))
    elif name == "polydesk":
        result = worker_polydesk(src, int(rest[0]))
    else:
        result = worker_argos(src, rest[0])
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
