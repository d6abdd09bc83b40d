"""Build the shipped heads and the out-of-scope calibration set, recorded in models/manifest.json.

    .venv/bin/python scripts/build_heads.py [--only calibration,default,sentiment]

* calibration: e5 embeddings of CLINC150's out-of-scope train + val queries (200), read from
  ../shared/datasets and kept only as a derived artefact (models/calibration/clinc150_oos.npy);
  every intent head calibrates its out-of-scope threshold on them. oos_test is never used here.
* default: the intent head on models/intents/train/<lang>.jsonl, all 35 languages.
* sentiment: the sentiment / urgency head on models/sentiment/<lang>.jsonl.

Evaluation sets (models/intents/eval), the demo tickets and public test splits are not read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from polydesk.languages import CODES
from polydesk.triage import heads, registry
from polydesk.triage.pipeline import Pipeline
from polydesk.triage.service import OOS_CALIBRATION, oos_embeddings

REPO = Path(__file__).resolve().parents[1]
CLINC = REPO.parent / "shared" / "datasets" / "clinc150" / "data_full.json"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_rows(folder: Path, label_key: str) -> heads.TrainingSet:
    texts, labels, languages = [], [], []
    for code in CODES:
        for line in (folder / f"{code}.jsonl").read_text("utf-8").splitlines():
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(row[label_key])
            languages.append(code)
    return heads.TrainingSet(texts, labels, languages)


def build_calibration(pipeline: Pipeline) -> None:
    data = json.loads(CLINC.read_text("utf-8"))
    texts = [text for text, _ in data["oos_train"] + data["oos_val"]]
    path = registry.shipped_dir() / OOS_CALIBRATION
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, pipeline.embed(texts).astype(np.float16))
    registry.Manifest.load(registry.shipped_dir()).record(
        "clinc150-oos",
        {
            "kind": "calibration",
            "source": "e5-small embeddings of CLINC150 oos_train + oos_val (200 queries), "
            "by scripts/build_heads.py",
            "licence": "derived from CLINC150 (CC-BY-3.0)",
            "files": [str(OOS_CALIBRATION)],
        },
        registry.shipped_dir(),
    )


def build_head(pipeline: Pipeline, name: str, kind: str, folder: Path, label_key: str) -> None:
    data = read_rows(folder, label_key)
    start = time.perf_counter()
    vectors = pipeline.embed(data.texts)
    log(f"{name}: embedded {len(data.texts)} examples in {time.perf_counter() - start:.0f} s")
    oos = oos_embeddings() if kind == "intent" else None
    head, labels, threshold, calibration = heads.fit_head(vectors, data, oos_embeddings=oos)
    source = f"{folder.relative_to(REPO)}/*.jsonl (hand-written, 35 languages)"
    heads.save_head(
        name, kind, head, labels, threshold, calibration, data, source, root=registry.shipped_dir()
    )
    log(f"{name}: {len(labels)} labels, out-of-scope threshold {threshold}, {calibration}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="calibration,default,sentiment")
    args = parser.parse_args()
    pipeline = Pipeline()
    steps = args.only.split(",")
    if "calibration" in steps:
        build_calibration(pipeline)
    if "default" in steps:
        build_head(pipeline, "default", "intent", REPO / "models" / "intents" / "train", "intent")
    if "sentiment" in steps:
        build_head(pipeline, "sentiment", "sentiment", REPO / "models" / "sentiment", "tone")


if __name__ == "__main__":
    main()
