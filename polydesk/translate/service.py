"""Translating texts: sentences, placeholders, the memory, the model(s) of a route, pivoting.

For a batch of texts in one language pair:

1. each text is split into sentences (``segment``) and each sentence's amounts, order numbers,
   dates, emails, URLs and phone numbers are replaced by surrogates (``placeholders``);
2. for each hop of the route (one model, or two through English) the sentences not in the
   translation memory go to the model in one batched call; a sentence whose translation lost
   or repeated a surrogate is repaired: the text between its surrogates is translated piece by
   piece and the pieces are put back around them, in the source order — less fluent, never
   missing a number;
3. the surrogates are replaced by the original spans and the sentences joined again, line
   breaks kept.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import PolydeskError
from ..store.memory import Memory
from ..text import sanitize
from . import coverage, packages
from .engine import DEFAULT_BEAM, Engine
from .errors import NoModelError
from .placeholders import Masked, complete, mask, restore
from .segment import joiner, split_sentences

_CJK_PUNCTUATION = str.maketrans({"，": ",", "。": ".", "：": ":", "；": ";", "！": "!", "？": "?"})


@dataclass(frozen=True)
class Translation:
    """A translated text and how it was made."""

    text: str
    source: str
    target: str
    path: tuple[str, ...]  # the pairs used: ("zh-en",), ("de-en", "en-fr"), () when same
    sentences: int = 0
    cached: int = 0  # sentence translations served by the memory (summed over hops)
    repaired: int = 0  # sentences whose placeholders had to be put back by hand

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "text": self.text,
            "path": list(self.path),
            "sentences": self.sentences,
            "cached": self.cached,
            "repaired": self.repaired,
        }


class _Tally:
    """Per sentence: how many hops the memory served, how many needed a repair."""

    def __init__(self, size: int) -> None:
        self.cached = [0] * size
        self.repaired = [0] * size


class Translator:
    """Every available model, loaded lazily and once; thread-safe."""

    def __init__(self, *, beam_size: int = DEFAULT_BEAM, memory: Memory | None = None) -> None:
        self.beam_size = beam_size
        self.memory = memory
        self._models: dict[str, packages.ModelPackage] | None = None
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    @property
    def models(self) -> dict[str, packages.ModelPackage]:
        with self._lock:
            if self._models is None:
                self._models = packages.available()
            return self._models

    def route(self, source: str, target: str) -> coverage.Route:
        """How ``source`` reaches ``target`` with the available models (kind "none" if not)."""
        return coverage.plan(source, target, self.models)

    def engine(self, package: packages.ModelPackage) -> Engine:
        with self._lock:
            if package.pair not in self._engines:
                self._engines[package.pair] = Engine(package, beam_size=self.beam_size)
            return self._engines[package.pair]

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[Translation]:
        """Translate texts from ``source`` to ``target``; raises NoModelError if not covered."""
        route = self.route(source, target)
        if not route.covered:
            raise NoModelError(source, target, sorted(self.models))
        split = [split_sentences(sanitize(text), source) for text in texts]
        masked = [mask(s.text) for sentences in split for s in sentences if s.text]
        tally = _Tally(len(masked))
        for step in route.hops:
            masked = self._hop(step, masked, tally)
        outputs = iter(restore(m, m.text) for m in masked)
        results, first = [], 0
        for sentences in split:
            text = _join([(next(outputs) if s.text else "", s.sep) for s in sentences], target)
            count = sum(1 for s in sentences if s.text)
            rows = range(first, first + count)
            first += count
            results.append(
                Translation(
                    text,
                    source,
                    target,
                    tuple(route.path),
                    count,
                    sum(tally.cached[i] for i in rows),
                    sum(tally.repaired[i] for i in rows),
                )
            )
        return results

    def translate_each(
        self, texts: Sequence[str], sources: Sequence[str], target: str
    ) -> list[Translation | PolydeskError]:
        """Texts in different languages: each group in one call; an uncovered pair (or any
        polydesk error) becomes that text's result instead of failing the batch."""
        out: list[Translation | PolydeskError | None] = [None] * len(texts)
        for source in dict.fromkeys(sources):
            rows = [i for i, s in enumerate(sources) if s == source]
            try:
                done: Sequence[Translation | PolydeskError] = self.translate(
                    [texts[i] for i in rows], source, target
                )
            except PolydeskError as exc:
                done = [exc] * len(rows)
            for row, result in zip(rows, done, strict=True):
                out[row] = result
        return [r for r in out if r is not None]

    def back_translate(self, translations: Sequence[Translation]) -> list[Translation | None]:
        """Each translation translated back into its source language, so an agent can check
        what the customer will read; None where no model covers the way back."""
        out: list[Translation | None] = [None] * len(translations)
        groups: dict[tuple[str, str], list[int]] = {}
        for index, item in enumerate(translations):
            if self.route(item.target, item.source).covered:
                groups.setdefault((item.target, item.source), []).append(index)
        for (source, target), rows in groups.items():
            backs = self.translate([translations[i].text for i in rows], source, target)
            for row, back in zip(rows, backs, strict=True):
                out[row] = back
        return out

    def _hop(
        self, package: packages.ModelPackage, items: list[Masked], tally: _Tally
    ) -> list[Masked]:
        """One model over masked sentences: memory first, the model for the rest, repairs."""
        engine = self.engine(package)
        args = (engine.key, package.source, package.target)
        unique = list(dict.fromkeys(m.text for m in items))
        known = self.memory.get(*args, unique) if self.memory else {}
        todo = [m for m in {m.text: m for m in items}.values() if m.text not in known]
        sources = [m.text for m in todo]
        fresh = dict(zip(sources, engine.translate(sources), strict=True))
        broken = [m for m in todo if not complete(m, fresh[m.text])]
        for item, fixed in zip(broken, self._repair(engine, broken), strict=True):
            fresh[item.text] = fixed
        if self.memory is not None:
            self.memory.put(*args, fresh.items())
        repaired = {m.text for m in broken}
        for index, item in enumerate(items):
            tally.cached[index] += item.text in known
            tally.repaired[index] += item.text in repaired
        done = {**known, **fresh}
        return [replace(m, text=done[m.text]) for m in items]

    @staticmethod
    def _repair(engine: Engine, broken: list[Masked]) -> list[str]:
        """Translate the text between the surrogates piece by piece, surrogates kept in place."""
        parts = [m.parts() for m in broken]
        pieces = [p for ps in parts for i, p in enumerate(ps) if i % 2 == 0 and _wordy(p)]
        translated = dict(zip(pieces, engine.translate(pieces), strict=True))
        glue = joiner(engine.package.target)
        out = []
        for ps in parts:
            kept = [
                p if i % 2 else translated.get(p, _punctuation(p, glue)) for i, p in enumerate(ps)
            ]
            out.append(glue.join(k for k in kept if k))
        return out


def _wordy(text: str) -> bool:
    return any(c.isalpha() for c in text)


def _punctuation(text: str, glue: str) -> str:
    stripped = text.strip()
    return stripped.translate(_CJK_PUNCTUATION) if glue else stripped


def _join(pieces: list[tuple[str, str]], target: str) -> str:
    """Sentences back into one text: line breaks as they were, the target's sentence glue."""
    glue = joiner(target)
    out = []
    for index, (text, sep) in enumerate(pieces):
        last = index == len(pieces) - 1
        out.append(text + (sep if "\n" in sep else ("" if last else glue)))
    return "".join(out).strip()
