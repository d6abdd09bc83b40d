"""The one object that owns the models: language id, encoder, intent and sentiment heads, routing.

Everything loads lazily and once per process; the CLI pipe, the database triage, the TUI and the
benchmarks all call :meth:`Pipeline.triage` (or the single stages) on batches.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..text import sanitize
from . import heads, langid, linear, policy, registry
from .centring import Centring
from .encoder import GENERAL, Encoder, join_views, view_parts

T = TypeVar("T")
# Embeddings of a batch by encoder view: "general" always, the intent head's view if it differs.
Views = dict[str, np.ndarray]
ENCODER = "e5-small"
STACKER = Path("langid") / "stacker.onnx"
# Arabic short-vowel and other optional marks (harakat, tanwin, shadda, sukun, dagger alif) and
# the tatweel: customers write "شكرا" and "شكراً" for the same word, and the vocabulary splits
# the marked form into rarer pieces. Hamza and alif forms are kept: folding those cost Arabic
# 9 rows for 4 on held-out training rows, where dropping the marks gained 3 for none lost.
_OPTIONAL_MARKS = re.compile("[\u064b-\u0652\u0670\u0640]")
# Changes whenever encoder_text does: cached embeddings (scripts/embedding_cache.py) key on it.
ENCODER_TEXT_FORM = "arabic-marks-dropped"


def encoder_text(text: str) -> str:
    """What the encoder reads of a (sanitised) text: optional Arabic marks dropped.

    Only the embeddings see this form; language id, stored tickets and the agent's screen keep
    the text as written.
    """
    return _OPTIONAL_MARKS.sub("", text)


@dataclass(frozen=True)
class TicketText:
    """One text to triage, with what the desk knows about its sender."""

    id: Any
    text: str
    profile_language: str | None = None
    contacts: int = 1


@dataclass(frozen=True)
class Triage:
    id: Any
    detection: langid.Detection
    intent: heads.Prediction
    sentiment: heads.Prediction | None
    route: policy.Route

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, **self.detection.as_dict(), **self.intent.as_dict()}
        if self.sentiment is not None:
            out["sentiment"] = self.sentiment.label
            out["sentiment_confidence"] = round(self.sentiment.confidence, 4)
        out.update(route=self.route.route, reason=self.route.reason, priority=self.route.priority)
        return out


class Pipeline:
    """Lazy, thread-safe holder of every triage model."""

    def __init__(
        self,
        *,
        head: str = "default",
        sentiment_head: str | None = "sentiment",
        policy_file: Path | None = None,
        encoder_dir: Path | None = None,
    ) -> None:
        self.head_name = head
        self.sentiment_name = sentiment_head
        self.policy_file = policy_file
        self.encoder_dir = encoder_dir or registry.build_dir() / ENCODER
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}

    def _once(self, key: str, make: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = make()
            return self._cache[key]  # type: ignore[no-any-return]

    @property
    def encoder(self) -> Encoder:
        return self._once("encoder", lambda: Encoder(self.encoder_dir))

    @property
    def detectors(self) -> langid.Detectors:
        def load() -> langid.Detectors:
            manifest = registry.Manifest.load(registry.shipped_dir())
            names = manifest.entry("langid-stacker").get("detectors", langid.DETECTORS)
            return langid.Detectors(names)

        return self._once("detectors", load)

    @property
    def stacker(self) -> linear.OnnxHead:
        def load() -> linear.OnnxHead:
            manifest = registry.Manifest.load(registry.shipped_dir())
            registry.verify_files("langid-stacker", manifest.entry("langid-stacker"), manifest.root)
            return linear.OnnxHead(registry.shipped_dir() / STACKER)

        return self._once("stacker", load)

    def centring_for(self, view: str) -> Centring:
        return self._once(f"centring:{view}", lambda: Centring.shipped(view))

    def views(self) -> tuple[str, ...]:
        """The views a triage pass needs: general (language id, sentiment) + the head's."""
        wanted = [GENERAL, *view_parts(self.head.info.view)]
        if self.sentiment_head is not None:
            wanted.append(self.sentiment_head.info.view)
        return tuple(dict.fromkeys(wanted))

    def head_input(
        self, vectors: np.ndarray | Views, languages: Sequence[str | None]
    ) -> np.ndarray:
        """What the intent head reads: its view(s), centred per language if it was trained so.

        ``vectors`` is what :meth:`embed_views` returned, or a general-view array for a head
        that reads the general view.
        """
        info = self.head.info
        if not isinstance(vectors, dict):
            if info.view != GENERAL:
                raise ValueError(f"head {info.name!r} reads the {info.view!r} view: embed_views")
            vectors = {GENERAL: vectors}
        return self.features(vectors, info.view, languages, centred=info.centred)

    def features(
        self, vectors: Views, view: str, languages: Sequence[str | None], *, centred: bool = True
    ) -> np.ndarray:
        """A head's input for ``view`` (one encoder view, or several joined with ``+``): each
        part centred on its own language means, then side by side (:func:`join_views`)."""
        parts = view_parts(view)
        if not centred:
            return join_views([vectors[part] for part in parts])
        return join_views(
            [self.centring_for(part).apply(vectors[part], languages) for part in parts]
        )

    @property
    def head(self) -> heads.Head:
        return self._once(f"head:{self.head_name}", lambda: heads.Head(self.head_name))

    @property
    def sentiment_head(self) -> heads.Head | None:
        if self.sentiment_name is None:
            return None
        name = self.sentiment_name
        return self._once(f"head:{name}", lambda: heads.Head(name))

    @property
    def policy(self) -> dict[str, Any]:
        return self._once("policy", lambda: policy.load_policy(self.policy_file))

    def load(self) -> None:
        """Load every model now, the detectors and the encoder side by side (both mostly wait
        on decompression and ONNX Runtime outside the GIL): about the slower of the two."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [
                pool.submit(self.detectors.scores, ["warm up"]),
                pool.submit(self.encoder.embed, ["warm up"]),
            ]
            for job in jobs:
                job.result()
        _ = (self.stacker, self.head, self.sentiment_head, self.policy)
        if self.head.info.centred:
            _ = [self.centring_for(part) for part in view_parts(self.head.info.view)]

    def embed(self, texts: Sequence[str], view: str = GENERAL) -> np.ndarray:
        return self._views_clean([sanitize(t) for t in texts], [view])[view]

    def embed_views(self, texts: Sequence[str], views: Sequence[str] | None = None) -> Views:
        """Every view a triage pass reads (:meth:`views`), or those asked for, in one pass."""
        return self._views_clean([sanitize(t) for t in texts], views)

    def _views_clean(self, clean: Sequence[str], views: Sequence[str] | None = None) -> Views:
        # 16 texts a call: as fast as 32 here, with ~80 MB less working memory.
        texts = [encoder_text(text) for text in clean]
        return self.encoder.embed_views(texts, views or self.views(), batch_size=16)

    def detect(
        self,
        texts: Sequence[str],
        priors: Sequence[str | None] | None = None,
        embeddings: np.ndarray | None = None,
    ) -> list[langid.Detection]:
        """Language of each text; ``priors`` are profile languages that settle close calls."""
        clean = [sanitize(t) for t in texts]
        if embeddings is None:
            embeddings = self._views_clean(clean, [GENERAL])[GENERAL]
        return self._detect_clean(clean, priors, embeddings)

    def _detect_clean(
        self, clean: Sequence[str], priors: Sequence[str | None] | None, vectors: np.ndarray
    ) -> list[langid.Detection]:
        features = np.concatenate([self.detectors.scores(clean), vectors], axis=1)
        probs = langid.restrict_to_script(self.stacker.run(features)[0], clean)
        if priors is not None:
            probs = langid.apply_prior(probs, priors)
        return langid.detections(probs)

    def classify(
        self,
        texts: Sequence[str],
        embeddings: Views | None = None,
        languages: Sequence[str | None] | None = None,
    ) -> list[heads.Prediction]:
        """Intent of each text; ``languages`` (else detected) matter for a centred head."""
        views = self.embed_views(texts) if embeddings is None else embeddings
        if self.head.info.centred and languages is None:
            languages = [d.language for d in self.detect(texts, embeddings=views[GENERAL])]
        return self.head.predict(self.head_input(views, languages or []), languages)

    def triage(self, items: Sequence[TicketText]) -> list[Triage]:
        """Language, intent, sentiment and route for a batch of tickets."""
        if not items:
            return []
        clean = [sanitize(item.text) for item in items]  # once: every stage reads these
        views = self._views_clean(clean)
        found = self._detect_clean(clean, [i.profile_language for i in items], views[GENERAL])
        langs = [d.language for d in found]
        intents = self.head.predict(self.head_input(views, langs), langs)
        mood_head = self.sentiment_head
        moods = mood_head.predict(views[mood_head.info.view]) if mood_head else [None] * len(items)
        results = []
        for item, det, intent, mood in zip(items, found, intents, moods, strict=True):
            route = policy.decide(
                intent,
                mood,
                det.language,
                det.confidence,
                self.policy,
                contacts=item.contacts,
                thresholds=self.head.info.language_thresholds,
            )
            results.append(Triage(item.id, det, intent, mood, route))
        return results
