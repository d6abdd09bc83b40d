"""Triage over the database, and training/evaluating heads: what the front doors call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import lifecycle
from ..errors import InvalidValueError
from ..store import Store
from . import calibration, heads, policy, registry, training
from .encoder import GENERAL, view_parts
from .pipeline import Pipeline, TicketText

CHUNK = 256
OOS_CALIBRATION = Path("calibration") / "clinc150_oos.npy"


def pending_count(store: Store, limit: int | None = None) -> int:
    count = store.count_tickets_to_triage()
    return min(count, limit) if limit else count


def triage_stored(
    store: Store,
    pipeline: Pipeline,
    *,
    limit: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Counter[str]:
    """Triage every ``new`` ticket; send the ones a person must see to the queue.

    Each ticket moves new -> triaged (one transaction, one event), then, unless the route is
    auto, triaged -> escalated (another). Auto tickets wait, triaged, for the Tier-1 resolver.
    """
    routes: Counter[str] = Counter()
    after = 0
    while limit is None or sum(routes.values()) < limit:
        size = CHUNK if limit is None else min(CHUNK, limit - sum(routes.values()))
        rows = store.tickets_to_triage(after, size)
        if not rows:
            break
        after = rows[-1]["id"]
        items = [TicketText(r["id"], _text(r), r["customer_language"], r["contacts"]) for r in rows]
        for result in pipeline.triage(items):
            _record(store, result)
            routes[result.route.route] += 1
        if on_batch:
            on_batch(len(rows))
    return routes


def _text(row: dict[str, Any]) -> str:
    subject, body = (row["subject"] or "").strip(), (row["body"] or "").strip()
    return f"{subject}\n{body}" if subject and subject not in body else body or subject


def _record(store: Store, result: Any) -> None:
    lifecycle.triage(
        store,
        result.id,
        language=result.detection.language,
        intent=result.intent.label,
        confidence=result.intent.confidence,
        sentiment=result.sentiment.label if result.sentiment else None,
        route=result.route.route,
        reason=result.route.reason,
        priority=result.route.priority,
    )
    if result.route.route != "auto":
        lifecycle.escalate(
            store, result.id, result.route.reason, route=result.route.route, actor="triage"
        )


def _with_general(view: str) -> list[str]:
    """The views to embed: the general one (language id) and ``view``'s parts, once each."""
    return list(dict.fromkeys([GENERAL, *view_parts(view)]))


def oos_path(view: str = GENERAL) -> Path:
    """The shipped CLINC150 out-of-scope embeddings of an encoder view, relative to models/."""
    return OOS_CALIBRATION if view == GENERAL else OOS_CALIBRATION.with_suffix(f".{view}.npy")


def oos_embeddings(view: str = GENERAL) -> np.ndarray | None:
    """Embeddings of CLINC150's out-of-scope train+val queries, shipped as a derived artefact."""
    path = registry.shipped_dir() / oos_path(view)
    if not path.exists():
        return None
    manifest = registry.Manifest.load(registry.shipped_dir())
    registry.verify_files("clinc150-oos", manifest.entry("clinc150-oos"), manifest.root)
    return np.load(path).astype(np.float32)


def head_oos_embeddings(pipeline: Pipeline, view: str) -> np.ndarray | None:
    """The out-of-scope calibration queries as a centred head on ``view`` reads them."""
    parts: dict[str, np.ndarray] = {}
    for part in view_parts(view):
        vectors = oos_embeddings(part)
        if vectors is None:
            return None
        parts[part] = vectors
    count = len(parts[view_parts(view)[0]])
    return pipeline.features(parts, view, ["en"] * count)


def with_languages(data: heads.TrainingSet, vectors: np.ndarray, pipeline: Pipeline) -> list[str]:
    """Each example's language: as given, else detected."""
    languages = list(data.languages)
    missing = [i for i, lang in enumerate(languages) if lang is None]
    if missing:
        detected = pipeline.detect([data.texts[i] for i in missing], embeddings=vectors[missing])
        for i, detection in zip(missing, detected, strict=True):
            languages[i] = detection.language
    return [lang or "?" for lang in languages]


def train_head(path: Path, name: str, pipeline: Pipeline, view: str = GENERAL) -> dict[str, Any]:
    """Read, embed, centre, fit, calibrate, export, record: ``polydesk intents train``.

    Embeddings are centred per language (centring.py) before fitting, so that a head trained on
    one language (usually English) carries over to the others. ``view`` picks the encoder
    output: ``general`` (the model's own embedding, for any taxonomy), an adapted view such
    as ``intent`` (top layers fine-tuned on the shipped taxonomy's examples), or several side
    by side (``intent+general``, what the shipped head reads).
    """
    heads.check_name(name)
    for part in view_parts(view):
        if part not in pipeline.encoder.views:
            raise InvalidValueError(
                "--view",
                f"this encoder has {', '.join(pipeline.encoder.views)} "
                f"(or several joined with '+'), not {part!r}",
            )
    data = training.read_examples(path)
    views = pipeline.embed_views(data.texts, _with_general(view))
    languages = with_languages(data, views[GENERAL], pipeline)
    data.languages = [lang for lang in languages]
    centred = pipeline.features(views, view, languages)
    oos = head_oos_embeddings(pipeline, view)
    head, labels, threshold, calibration = heads.fit_head(centred, data, oos_embeddings=oos)
    directory = heads.save_head(
        name,
        "intent",
        head,
        labels,
        threshold,
        calibration,
        data,
        path.name,
        centred=True,
        view=view,
        encoder_sha256=pipeline.encoder.sha256,
    )
    return {
        "name": name,
        "path": str(directory),
        "rows": len(data.texts),
        "labels": labels,
        "view": view,
        "oos_threshold": threshold,
        "calibration": calibration,
    }


def labelled_predictions(
    path: Path, pipeline: Pipeline
) -> tuple[heads.TrainingSet, list[heads.Prediction], list[str]]:
    """Examples, the pipeline head's predictions, languages (detected where not given)."""
    data = training.read_examples(path)
    views = pipeline.embed_views(data.texts, _with_general(pipeline.head.info.view))
    languages = with_languages(data, views[GENERAL], pipeline)
    found = pipeline.head.predict(pipeline.head_input(views, languages), languages)
    return data, found, languages


def auto_intents() -> set[str]:
    """Intents the machine may answer itself (auto-resolvable, not sensitive, no specialist)."""
    return {
        name
        for name, info in policy.taxonomy().items()
        if info.get("auto") and not info.get("sensitive") and info.get("handler") != "specialist"
    }


def evaluate_head(path: Path, pipeline: Pipeline) -> training.Evaluation:
    """Score the pipeline's head on labelled examples, with what its routing would do."""
    return evaluate_predictions(*labelled_predictions(path, pipeline), pipeline)


def evaluate_predictions(
    data: heads.TrainingSet,
    found: list[heads.Prediction],
    languages: list[str],
    pipeline: Pipeline,
) -> training.Evaluation:
    """:func:`evaluate_head` on predictions already made (one embedding pass for reports)."""
    result = training.evaluate(data.labels, [p.label for p in found], list(languages))
    rules = pipeline.policy["auto"]
    thresholds = pipeline.head.info.language_thresholds
    rows = calibration.Rows.of(found, data.labels, auto_intents())
    automation = {}
    for lang in sorted(set(languages)):
        mask = np.array([x == lang for x in languages])
        needed = policy.needed_confidence(lang, rules, thresholds)
        automation[lang] = {
            "threshold": needed,
            **rows.take(mask).outcome(needed, float(rules["min_margin"])),
        }
    result.automation = automation
    return result


def calibrate_head(
    path: Path, pipeline: Pipeline, *, max_wrong: float, root: Path | None = None
) -> dict[str, Any]:
    """Set the pipeline head's per-language thresholds from labelled examples."""
    if not 0.0 <= max_wrong < 1.0:
        raise InvalidValueError("--max-wrong", "must be a fraction in [0, 1)")
    data, found, languages = labelled_predictions(path, pipeline)
    rules = pipeline.policy["auto"]
    report = calibration.calibrate(
        found,
        data.labels,
        languages,
        auto_intents(),
        max_wrong=max_wrong,
        floor=float(rules["min_confidence"]),
        min_margin=float(rules["min_margin"]),
    )
    report["source"] = path.name
    name = pipeline.head.info.name
    heads.set_language_thresholds(name, report["thresholds"], report, root=root)
    return {"name": name, **report}
