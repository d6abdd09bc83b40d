"""Build the shipped heads (models/build/heads) and their committed inputs (models/).

    .venv/bin/python scripts/build_heads.py [--only calibration,centring,default,thresholds,...]
    .venv/bin/python scripts/build_heads.py --heads --unless-current   # what scripts/setup runs
    .venv/bin/python scripts/build_heads.py --heads --record            # after changing data

The heads are built, not committed: a blended head holds its training rows' embeddings (36 MB
for ``default``). They go to models/build/heads/<name> with models/build/manifest.json, which
is what the runtime verifies; ``--record`` also writes their hashes into models/manifest.json
(as for the encoder, a different build is then reported by scripts/check_models.py, not refused).
The calibration set and the centring means are small and committed.

* calibration: e5 embeddings of CLINC150's out-of-scope train + val queries (200), read from
  ../shared/datasets and kept only as a derived artefact (models/calibration/clinc150_oos.npy,
  and clinc150_oos.<view>.npy per adapted encoder view); every intent head calibrates its
  out-of-scope threshold on them. oos_test is never used here.
* centring: each language's mean embedding over the texts of models/intents/train (labels
  unused), models/centring/support.npy (support.<view>.npy per adapted view): intent heads are
  trained and run on embeddings centred per language (polydesk/triage/centring.py).
* default: the intent head on models/intents/train/<lang>.jsonl, all 35 languages, centred, on
  the encoder's ``intent`` view beside its general one (``intent+general``) when it has an
  intent view (the adapter of scripts/train_adapter.py).

calibration and centring depend on the encoder build: rerun them (``--only
calibration,centring``, needs ../shared) after retraining the adapter.
* thresholds: the default head's per-language confidence thresholds, set on
  models/intents/eval (at most 1% of a language's tickets answered wrongly by the machine);
  the only step that reads the evaluation set, which is never trained on.
* sentiment: the sentiment / urgency head on models/sentiment/<lang>.jsonl.

The demo tickets and public test splits are not read.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from embedding_cache import Embedder, cached_views

from polydesk.errors import PolydeskError
from polydesk.languages import CODES
from polydesk.triage import centring, heads, registry
from polydesk.triage.encoder import GENERAL, VIEW_JOIN, view_parts
from polydesk.triage.pipeline import Pipeline
from polydesk.triage.service import calibrate_head, head_oos_embeddings, oos_path

REPO = Path(__file__).resolve().parents[1]
MAX_WRONG = 0.01
INTENT_VIEW = "intent"
# The default head reads the adapted view and the general one side by side: on the rows the
# adapter never saw (its held-out tenth), 93.0% against 92.2% on the adapted view alone, and
# better in every neighbour setting tried (k 5/10/20 x blend weight 0.3/0.5/0.7).
INTENT_HEAD_VIEW = f"{INTENT_VIEW}{VIEW_JOIN}{GENERAL}"
CLINC = REPO.parent / "shared" / "datasets" / "clinc150" / "data_full.json"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_rows(folder: Path, label_key: str) -> heads.TrainingSet:
    texts: list[str] = []
    labels: list[str] = []
    languages: list[str | None] = []
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
    views = pipeline.embed_views(texts, pipeline.encoder.views)
    for view, vectors in views.items():
        path = registry.shipped_dir() / oos_path(view)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors.astype(np.float16))
    registry.Manifest.load(registry.shipped_dir()).record(
        "clinc150-oos",
        {
            "kind": "calibration",
            "source": "e5-small embeddings of CLINC150 oos_train + oos_val (200 queries), "
            f"views {', '.join(views)}, by scripts/build_heads.py",
            "licence": "derived from CLINC150 (CC-BY-3.0)",
            "encoder_sha256": pipeline.encoder.sha256,
            "files": [str(oos_path(view)) for view in views],
        },
        registry.shipped_dir(),
    )


def embed_rows(
    pipeline: Pipeline, name: str, data: heads.TrainingSet, views: list[str]
) -> dict[str, np.ndarray]:
    """Embeddings of the rows per view, cached on disk per encoder build (one encoder pass for
    the views not cached yet; scripts/embedding_cache.py)."""
    start = time.perf_counter()
    vectors = cached_views([Embedder(pipeline, view) for view in views], data.texts)
    log(f"{name}: {len(data.texts)} examples embedded in {time.perf_counter() - start:.0f} s")
    return vectors


def build_centring(pipeline: Pipeline) -> None:
    data = read_rows(REPO / "models" / "intents" / "train", "intent")
    views = pipeline.encoder.views
    embedded = embed_rows(pipeline, f"centring ({', '.join(views)})", data, list(views))
    for view in views:
        vectors = embedded[view]
        means = centring.Centring.estimate(vectors, [str(lang) for lang in data.languages]).means
        path = registry.shipped_dir() / centring.means_path(view)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, means.astype(np.float32))
    registry.Manifest.load(registry.shipped_dir()).record(
        centring.ENTRY,
        {
            "kind": "centring",
            "source": "mean e5-small embedding per language of models/intents/train "
            f"(labels unused), views {', '.join(views)}, by scripts/build_heads.py",
            "licence": "derived from polydesk's own training texts",
            "encoder_sha256": pipeline.encoder.sha256,
            "files": [str(centring.means_path(view)) for view in views],
        },
        registry.shipped_dir(),
    )


def build_head(pipeline: Pipeline, name: str, kind: str, folder: Path, label_key: str) -> None:
    data = read_rows(folder, label_key)
    view = GENERAL
    if kind == "intent" and INTENT_VIEW in pipeline.encoder.views:
        view = INTENT_HEAD_VIEW
    vectors = embed_rows(pipeline, name, data, list(view_parts(view)))
    centred = kind == "intent"
    features = pipeline.features(vectors, view, data.languages, centred=centred)
    oos = head_oos_embeddings(pipeline, view) if kind == "intent" else None
    head, labels, threshold, calibration = heads.fit_head(features, data, oos_embeddings=oos)
    source = f"{folder.relative_to(REPO)}/*.jsonl (hand-written, 35 languages)"
    heads.save_head(
        name,
        kind,
        head,
        labels,
        threshold,
        calibration,
        data,
        source,
        root=registry.build_dir(),
        centred=centred,
        view=view,
        encoder_sha256=pipeline.encoder.sha256,
    )
    log(
        f"{name} ({view} view): {len(labels)} labels, "
        f"out-of-scope threshold {threshold}, {calibration}"
    )


def build_thresholds(max_wrong: float) -> None:
    eval_dir = REPO / "models" / "intents" / "eval"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "eval.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for code in CODES:
                for line in (eval_dir / f"{code}.jsonl").read_text("utf-8").splitlines():
                    row = {**json.loads(line), "language": code}
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
        report = calibrate_head(path, Pipeline(), max_wrong=max_wrong, root=registry.build_dir())
    log(f"thresholds (max {max_wrong:.0%} wrong automatic answers): {report['thresholds']}")


HEADS = ("default", "sentiment")
HEAD_STEPS = "default,thresholds,sentiment"
BUILD = "python scripts/build_heads.py --heads"


def heads_are_current() -> bool:
    """Whether models/build holds both heads, calibrated, as their build manifest records."""
    built = registry.Manifest.load(registry.build_dir())
    encoder = Pipeline().encoder.sha256
    for name in HEADS:
        entry = built.models.get(f"head:{name}")
        if entry is None or entry.get("encoder_sha256") != encoder:
            return False
        try:
            registry.verify_files(f"head:{name}", entry, built.root)
        except PolydeskError:
            return False
    info = json.loads((registry.build_dir() / "heads" / "default" / "head.json").read_text())
    return bool(info.get("language_thresholds"))


def record_shipped() -> None:
    """Write the built heads' hashes into models/manifest.json, as built here."""
    built = registry.Manifest.load(registry.build_dir())
    shipped = registry.Manifest.load(registry.shipped_dir())
    for name in HEADS:
        entry = built.entry(f"head:{name}")
        files = [f"build/heads/{name}/{f}" for f in heads.HEAD_FILES]
        shipped.record(f"head:{name}", {**entry, "build": BUILD, "files": files}, shipped.root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="calibration,centring," + HEAD_STEPS)
    parser.add_argument("--heads", action="store_true", help=f"only the heads: {HEAD_STEPS}")
    parser.add_argument("--max-wrong", type=float, default=MAX_WRONG)
    parser.add_argument(
        "--unless-current", action="store_true", help="do nothing if the heads are built"
    )
    parser.add_argument(
        "--record", action="store_true", help="record the built heads in models/manifest.json"
    )
    args = parser.parse_args()
    if args.unless_current and heads_are_current():
        return
    pipeline = Pipeline()
    steps = (HEAD_STEPS if args.heads else args.only).split(",")
    if "calibration" in steps:
        build_calibration(pipeline)
    if "centring" in steps:
        build_centring(pipeline)
    if "default" in steps:
        build_head(pipeline, "default", "intent", REPO / "models" / "intents" / "train", "intent")
    if "thresholds" in steps:
        build_thresholds(args.max_wrong)
    if "sentiment" in steps:
        build_head(pipeline, "sentiment", "sentiment", REPO / "models" / "sentiment", "tone")
    if args.record:
        record_shipped()


if __name__ == "__main__":
    main()
