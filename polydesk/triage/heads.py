"""Named classification heads on the frozen encoder: train, save, load, predict.

A head is a directory with ``head.onnx`` (embedding -> probabilities) and ``head.json`` (its
labels, thresholds and where it came from), recorded in a manifest. The shipped heads
(``default`` for intents, ``sentiment``) are built from the committed training data by
``scripts/build_heads.py`` (run by ``scripts/setup``) into ``models/build/heads``: the
neighbour memory of a blended head is 36 MB of int8 embeddings, a build product rather than a file
to commit. Heads an operator trains live in the data dir, so retraining never touches the
shipped ones.

Every prediction carries its confidence, margin (top-1 minus top-2) and top-3 alternatives.
An intent head also knows when a text is none of its intents: trained with an ``out_of_scope``
class, and below a confidence threshold calibrated on held-out rows and CLINC150's out-of-scope
queries (:func:`calibrate_oos`) the answer is ``out_of_scope`` too.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import timeutil
from ..errors import ConflictError, InvalidValueError, NotFoundError
from . import linear, registry
from .encoder import GENERAL

OUT_OF_SCOPE = "out_of_scope"
AnyHead = linear.LinearHead | linear.BlendedHead
HEAD_FILES = ("head.onnx", "head.json")
HEAD_CHUNK = 32
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    margin: float
    alternatives: tuple[tuple[str, float], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "intent": self.label,
            "confidence": round(self.confidence, 4),
            "margin": round(self.margin, 4),
            "alternatives": [[label, round(p, 4)] for label, p in self.alternatives],
        }


@dataclass
class HeadInfo:
    """What ``head.json`` holds."""

    name: str
    kind: str  # "intent" or "sentiment"
    labels: list[str]
    oos_threshold: float | None = None
    trained: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    # confidence an automatic answer needs, per language (see calibration.py)
    language_thresholds: dict[str, float] = field(default_factory=dict)
    # trained on per-language centred embeddings (see centring.py): centre before predicting
    centred: bool = False
    # out-of-scope threshold per language where held-out rows allowed one (else oos_threshold)
    oos_thresholds: dict[str, float] = field(default_factory=dict)
    # which encoder output it reads: "general" (the model's own) or an adapted view ("intent")
    view: str = GENERAL

    def oos_threshold_for(self, language: str | None) -> float | None:
        if language is not None and language in self.oos_thresholds:
            return self.oos_thresholds[language]
        return self.oos_threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "labels": self.labels,
            "oos_threshold": self.oos_threshold,
            "language_thresholds": self.language_thresholds,
            "centred": self.centred,
            "oos_thresholds": self.oos_thresholds,
            "view": self.view,
            "trained": self.trained,
            "calibration": self.calibration,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HeadInfo:
        return cls(
            data["name"],
            data["kind"],
            list(data["labels"]),
            data.get("oos_threshold"),
            data.get("trained", {}),
            data.get("calibration", {}),
            {k: float(v) for k, v in data.get("language_thresholds", {}).items()},
            bool(data.get("centred", False)),
            {k: float(v) for k, v in data.get("oos_thresholds", {}).items()},
            str(data.get("view", GENERAL)),
        )


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidValueError("--name", "use 1-40 lowercase letters, digits, - or _")
    return name


def locate(name: str) -> tuple[Path, registry.Manifest]:
    """The directory of head ``name``: the operator's first, then the shipped ones as built.

    A shipped head that has not been built yet is found in the shipped manifest, whose entry
    then fails verification with the command that builds it.
    """
    for root in (registry.operator_dir(), registry.build_dir(), registry.shipped_dir()):
        manifest = registry.Manifest.load(root)
        if f"head:{name}" in manifest.models:
            return root / "heads" / name, manifest
    raise NotFoundError(f"no head named {name!r} (train one with `polydesk intents train`)")


def available() -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for origin, root in (
        ("shipped", registry.shipped_dir()),
        ("shipped", registry.build_dir()),
        ("trained", registry.operator_dir()),
    ):
        for key, entry in registry.Manifest.load(root).models.items():
            if key.startswith("head:"):
                found[key[5:]] = {"name": key[5:], "origin": origin, **entry}
    return list(found.values())


class Head:
    """A loaded head, verified against its manifest."""

    def __init__(self, name: str) -> None:
        directory, manifest = locate(name)
        entry = manifest.entry(f"head:{name}")
        registry.verify_files(f"head:{name}", entry, manifest.root)
        self.directory = directory
        self.info = HeadInfo.from_json(json.loads((directory / "head.json").read_text("utf-8")))
        self.runner = linear.OnnxHead(directory / "head.onnx")

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        # In chunks: a blended head compares each row with every training row, and 256 rows
        # at once would hold a 30 MB similarity matrix for nothing.
        if len(embeddings) <= HEAD_CHUNK:
            return self.runner.run(embeddings)[0]
        parts = [
            self.runner.run(embeddings[i : i + HEAD_CHUNK])[0]
            for i in range(0, len(embeddings), HEAD_CHUNK)
        ]
        return np.concatenate(parts, axis=0)

    def predict(
        self, embeddings: np.ndarray, languages: Sequence[str | None] | None = None
    ) -> list[Prediction]:
        return predictions(self.probabilities(embeddings), self.info, languages)


def predictions(
    probs: np.ndarray, info: HeadInfo, languages: Sequence[str | None] | None = None
) -> list[Prediction]:
    """Top-3 predictions; below the (language's) out-of-scope threshold: ``out_of_scope``."""
    out = []
    langs = languages if languages is not None else [None] * len(probs)
    for row, lang in zip(probs, langs, strict=True):
        order = np.argsort(-row)[:3]
        alternatives = tuple((info.labels[i], float(row[i])) for i in order)
        confidence = alternatives[0][1]
        margin = confidence - (alternatives[1][1] if len(alternatives) > 1 else 0.0)
        label = alternatives[0][0]
        threshold = info.oos_threshold_for(lang)
        if threshold is not None and confidence < threshold:
            label = OUT_OF_SCOPE
        out.append(Prediction(label, confidence, margin, alternatives))
    return out


# -- training -----------------------------------------------------------------------------------


@dataclass
class TrainingSet:
    texts: list[str]
    labels: list[str]
    languages: list[str | None]

    def __post_init__(self) -> None:
        if len(set(self.labels)) < 2:
            raise InvalidValueError("intent", "a head needs examples of at least two intents")


def calibrate_oos(
    in_scope: np.ndarray,
    out_of_scope: np.ndarray,
    *,
    keep: float = 0.95,
    right: np.ndarray | None = None,
    share: float | None = None,
) -> tuple[float, dict[str, float]]:
    """The out-of-scope threshold, from held-out in-scope scores and out-of-scope query scores.

    Without ``share`` (a head with no ``out_of_scope`` class, whose threshold is its only
    defence): the highest threshold that still keeps ``keep`` of the in-scope rows.

    With ``share``, the fraction of out-of-scope tickets expected (a head trained with an
    ``out_of_scope`` class: that class's share of its training rows), and ``right``, whether
    each in-scope row's top intent is correct: the threshold with the best expected accuracy,
    ``(1 - share) * in-scope rows kept and right + share * out-of-scope queries caught``. The
    class already catches most out-of-scope text, and a threshold never decides an automatic
    answer (those need far more confidence), only whether a person sees a low-confidence guess
    or "out of scope"; keeping 95% instead cost the shipped head 1.4-2.3 points of held-out
    accuracy to catch 12-13% more of CLINC150's (English) out-of-scope queries.
    """
    if share is None or right is None:
        threshold = float(np.quantile(in_scope, 1.0 - keep, method="lower"))
    else:
        candidates = np.unique(np.concatenate([[0.0], in_scope[in_scope > 0]]))
        kept_right = [float(np.mean(right & (in_scope >= t))) for t in candidates]
        caught = [float(np.mean(out_of_scope < t)) for t in candidates]
        value = (1.0 - share) * np.array(kept_right) + share * np.array(caught)
        threshold = float(candidates[int(np.argmax(value))])
    return threshold, {
        "in_scope_kept": round(float((in_scope >= threshold).mean()), 4),
        "oos_caught": round(float((out_of_scope < threshold).mean()), 4),
        **({} if share is None else {"oos_share": round(share, 4)}),
    }


HOLDOUT_FRACTION = 0.1
HOLDOUT_SEED = 0


def split_holdout(labels: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """A stratified boolean mask of rows held out for calibration."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    for rows in by_label.values():
        take = round(len(rows) * fraction)
        if take and len(rows) - take >= 1:
            mask[rng.choice(rows, take, replace=False)] = True
    return mask


L2_CANDIDATES = (1e-3, 1e-2, 1e-1)
# Neighbour-vote weights (linear.BlendedHead): the cosine similarity itself (None), or
# exp((similarity - best) / t). On the shipped head's held-out training rows (all 35 languages,
# never seen by the adapter): plain 93.9%, t 0.01 94.5%, 0.03 95.0%, 0.1 94.4%. For an
# English-only head (held-out English rows chose 0.1) the other languages' development rows went
# from 69.6% to 73.8% (scripts/report_transfer.py). The first candidate wins ties.
TEMPERATURE_CANDIDATES: tuple[float | None, ...] = (None, 0.01, 0.03, 0.1)
L2_TOLERANCE = 0.01


def choose_l2(
    probes: dict[float, linear.LinearHead], x_held: np.ndarray, y_held: np.ndarray
) -> tuple[float, dict[str, float]]:
    """The strongest L2 whose held-out accuracy is within one point of the best.

    A smoother head carries over to languages it was not trained in (an English-only head:
    70.8% across 34 other languages at 0.1 against 69.5% at 0.001, scripts/report_transfer.py),
    but on some data it costs accuracy in the training language itself: held-out rows decide.
    """
    scores = {
        l2: float((head.predict_proba(x_held).argmax(axis=1) == y_held).mean())
        for l2, head in probes.items()
    }
    best = max(scores.values())
    chosen = max(l2 for l2, score in scores.items() if score >= best - L2_TOLERANCE)
    return chosen, {str(l2): round(score, 4) for l2, score in scores.items()}


def fit_head(
    embeddings: np.ndarray,
    data: TrainingSet,
    *,
    oos_embeddings: np.ndarray | None,
    l2: float | None = None,
    neighbours: bool = True,
    seed: int = HOLDOUT_SEED,
    temperatures: Sequence[float | None] = TEMPERATURE_CANDIDATES,
) -> tuple[AnyHead, list[str], float | None, dict[str, Any]]:
    """Fit on 90%, choose on the held-out 10%, calibrate the out-of-scope threshold, refit.

    Chosen on held-out rows: L2 among L2_CANDIDATES (``l2=None``, :func:`choose_l2`), and,
    with ``neighbours``, whether to blend the linear head with a nearest-neighbour vote over
    the training rows (:class:`linear.BlendedHead`): kept unless it is over a point worse, its
    vote weights among ``temperatures`` by held-out accuracy. An
    ``out_of_scope`` class in the data is trained like any other; the threshold catches the
    out-of-scope queries it misses.
    """
    labels = sorted(set(data.labels))
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[label] for label in data.labels])
    threshold: float | None = None
    calibration: dict[str, Any] = {}
    held = split_holdout(data.labels, HOLDOUT_FRACTION, seed)
    probes: dict[float, linear.LinearHead] = {}
    if held.any() and (l2 is None or oos_embeddings is not None):
        for candidate in L2_CANDIDATES if l2 is None else (l2,):
            probes[candidate] = linear.fit(embeddings[~held], y[~held], len(labels), l2=candidate)
    if l2 is None:
        if probes:
            l2, calibration["l2_held_out_accuracy"] = choose_l2(probes, embeddings[held], y[held])
        else:
            l2 = L2_CANDIDATES[1]
    calibration["l2"] = l2
    classes = len(labels)
    use_blend = neighbours and not probes  # no held-out rows to judge by: trust the default
    probe: AnyHead | None = probes.get(l2)
    temperature: float | None = None
    if neighbours and probe is not None:
        scores = {"linear": _accuracy(probes[l2], embeddings[held], y[held])}
        # one memory and one neighbour search for every candidate: only the weights differ
        base = linear.blend(probes[l2], embeddings[~held], y[~held], classes)
        found = base.nearest(embeddings[held])
        candidates: dict[float | None, linear.BlendedHead] = {}
        for option in temperatures:
            candidates[option] = replace(base, temperature=option)
            scores[_blend_key(option)] = _accuracy(
                candidates[option], embeddings[held], y[held], found
            )
        temperature = max(candidates, key=lambda t: scores[_blend_key(t)])
        use_blend = scores[_blend_key(temperature)] >= scores["linear"] - L2_TOLERANCE
        calibration["blend_held_out_accuracy"] = scores
        probe = candidates[temperature] if use_blend else probe
    calibration["neighbours"] = use_blend
    if use_blend:
        calibration["vote_temperature"] = temperature
    if oos_embeddings is not None and len(oos_embeddings) and probe is not None:
        in_scope = held & (y != index.get(OUT_OF_SCOPE, -1))
        probs = probe.predict_proba(embeddings[in_scope])
        kept = _oos_score(probs, index)
        share, right = None, None
        outside = [oos_embeddings]
        if OUT_OF_SCOPE in index:
            # trained with the class: weigh what the threshold costs against what it catches,
            # the class's own held-out rows (every language) beside CLINC150's queries
            share = float(np.mean(y == index[OUT_OF_SCOPE]))
            right = probs.argmax(axis=1) == y[in_scope]
            outside.append(embeddings[held & (y == index[OUT_OF_SCOPE])])
        caught = _oos_score(probe.predict_proba(np.vstack(outside)), index)
        threshold, oos = calibrate_oos(kept, caught, right=right, share=share)
        calibration.update(oos, held_out_rows=int(in_scope.sum()), oos_rows=len(caught))
        calibration["oos_thresholds"] = _language_oos_thresholds(
            kept, [data.languages[i] for i in np.flatnonzero(in_scope)], threshold
        )
    fitted = linear.fit(embeddings, y, classes, l2=l2)
    head: AnyHead = (
        linear.blend(fitted, embeddings, y, classes, temperature=temperature)
        if use_blend
        else fitted
    )
    return head, labels, threshold, calibration


OOS_MIN_ROWS = 30


def _language_oos_thresholds(
    kept: np.ndarray, languages: Sequence[str | None], overall: float
) -> dict[str, float]:
    """Per language with enough held-out rows: the threshold keeping 95% of its in-scope rows,
    never above the overall one.

    The out-of-scope queries (CLINC150) are English; a head is less confident in its weaker
    languages, so one threshold would call their real requests out of scope far more often
    (on the evaluation set it cost Arabic 6 points). Per language the bar is the same: 95% of
    that language's in-scope rows kept.
    """
    langs = np.array([lang or "?" for lang in languages])
    out = {}
    for lang in sorted(set(langs) - {"?"}):
        scores = kept[langs == lang]
        if len(scores) >= OOS_MIN_ROWS:
            value = float(np.quantile(scores, 0.05, method="lower"))
            out[str(lang)] = round(min(value, overall), 4)
    return out


def _blend_key(temperature: float | None) -> str:
    """The calibration key of a blended candidate's held-out accuracy."""
    return "blended" if temperature is None else f"blended@{temperature}"


def _accuracy(
    head: AnyHead,
    x: np.ndarray,
    y: np.ndarray,
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    if isinstance(head, linear.BlendedHead):
        probs = head.predict_proba(x, neighbours)
    else:
        probs = head.predict_proba(x)
    return round(float((probs.argmax(axis=1) == y).mean()), 4)


def _oos_score(probs: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """Top confidence, or -1 where the top class already is out_of_scope."""
    score = probs.max(axis=1)
    if OUT_OF_SCOPE in index:
        score = np.where(probs.argmax(axis=1) == index[OUT_OF_SCOPE], -1.0, score)
    return np.asarray(score)


def save_head(
    name: str,
    kind: str,
    head: AnyHead,
    labels: list[str],
    threshold: float | None,
    calibration: dict[str, Any],
    data: TrainingSet,
    source: str,
    *,
    root: Path | None = None,
    centred: bool = False,
    view: str = GENERAL,
    encoder_sha256: str | None = None,
) -> Path:
    """Export ``head.onnx`` + ``head.json`` and record the head in the manifest of ``root``."""
    base = root or registry.operator_dir()
    if root is None and f"head:{name}" in registry.Manifest.load(registry.shipped_dir()).models:
        raise ConflictError(f"{name!r} is a shipped head: choose another --name")
    directory = base / "heads" / name
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(head, linear.BlendedHead):
        linear.blended_to_onnx(head, directory / "head.onnx", name=f"{kind}-{name}")
    else:
        linear.to_onnx(head, directory / "head.onnx", name=f"{kind}-{name}")
    info = HeadInfo(
        name,
        kind,
        labels,
        threshold,
        {
            "source": source,
            "rows": len(data.texts),
            "at": timeutil.now_iso(),
            "per_label": dict(sorted(Counter(data.labels).items())),
            "languages": dict(sorted(Counter(lang or "?" for lang in data.languages).items())),
        },
        {k: v for k, v in calibration.items() if k != "oos_thresholds"},
        centred=centred,
        oos_thresholds=dict(calibration.get("oos_thresholds", {})),
        view=view,
    )
    (directory / "head.json").write_text(json.dumps(info.to_json(), indent=2) + "\n", "utf-8")
    manifest = registry.Manifest.load(base)
    manifest.record(
        f"head:{name}",
        {
            "kind": f"{kind}-head",
            "encoder": "e5-small",
            "view": view,
            **({"encoder_sha256": encoder_sha256} if encoder_sha256 else {}),
            "source": source,
            "licence": "as its training data",
            "files": [f"heads/{name}/{f}" for f in HEAD_FILES],
        },
        base,
    )
    return directory


def set_language_thresholds(
    name: str, thresholds: dict[str, float], report: dict[str, Any], *, root: Path | None = None
) -> Path:
    """Store calibrated per-language thresholds in ``head.json`` and re-record its hash.

    Shipped heads are calibrated by scripts/build_heads.py (``root`` given); from the command
    line only the operator's own heads can be changed.
    """
    if root is None:
        directory, manifest = locate(name)
        if manifest.root != registry.operator_dir():
            raise ConflictError(f"{name!r} is a shipped head: calibrate a head you trained")
    else:
        directory, manifest = root / "heads" / name, registry.Manifest.load(root)
    entry = manifest.entry(f"head:{name}")
    info = HeadInfo.from_json(json.loads((directory / "head.json").read_text("utf-8")))
    info.language_thresholds = dict(sorted(thresholds.items()))
    info.calibration = {**info.calibration, "languages": report}
    tmp = directory / "head.json.partial"
    tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n", "utf-8")
    tmp.replace(directory / "head.json")
    manifest.record(f"head:{name}", {**entry, "files": list(entry["files"])}, manifest.root)
    return directory
