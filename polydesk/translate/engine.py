"""One translation model at work: SentencePiece in, CTranslate2 int8 on the CPU, text out.

Settings measured on the zh->en OPUS-MT model, 2 cores (scripts/bench_translate.py): batches
of up to 2,048 source tokens (1,024 from beam 4 on) sorted by length, one worker per core;
int8 weights.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from ..triage import registry
from .packages import ModelPackage, verify
from .segment import chunk, joiner

BATCH_TOKENS = 2048  # source tokens per batch at beam 1 and 2; halved from beam 4 on
MAX_INPUT_TOKENS = 200  # longer sentences are cut at a clause break (the model saw <= 256)
DEFAULT_BEAM = 2


def threads() -> tuple[int, int]:
    """(inter_threads, intra_threads): one single-threaded worker per core. Measured on 2
    cores, zh->en: batches ~10% faster than one worker on both cores, and one sentence alone
    no slower (intra-op threads do little for a batch of one); inter x intra = the cores."""
    return max(1, os.cpu_count() or 1), 1


def batch_tokens(beam_size: int) -> int:
    """Tokens per batch: at beam 4 a 2,048-token batch is 8,192 hypotheses' worth of work per
    worker; 1,024 was as fast here (two workers finish together) with ~300 MB less peak RSS."""
    return BATCH_TOKENS if beam_size < 4 else BATCH_TOKENS // 2


class Engine:
    """A model's tokenizer(s) and CTranslate2 translator, loaded lazily, once."""

    def __init__(self, package: ModelPackage, *, beam_size: int = DEFAULT_BEAM) -> None:
        self.package = package
        self.beam_size = beam_size
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any] | None = None

    @property
    def key(self) -> str:
        """The model and decoding settings a translation depends on (translation memory key)."""
        return f"{self.package.key}:beam{self.beam_size}"

    def _load(self) -> tuple[Any, Any, Any]:
        with self._lock:
            if self._loaded is None:
                verify(self.package)
                ctranslate2 = registry.require("ctranslate2", "ctranslate2", "translation")
                spm = registry.require("sentencepiece", "sentencepiece", "translation")
                inter, intra = threads()
                translator = ctranslate2.Translator(
                    str(self.package.model_dir),
                    device="cpu",
                    compute_type="int8",
                    inter_threads=inter,
                    intra_threads=intra,
                )
                source = spm.SentencePieceProcessor(model_file=str(self.package.source_spm))
                target = self.package.target_spm
                decoder = spm.SentencePieceProcessor(model_file=str(target)) if target else None
                self._loaded = (translator, source, decoder)
            return self._loaded

    def load(self) -> None:
        self._load()

    def translate(self, sentences: Sequence[str]) -> list[str]:
        """Translate sentences (one batch call); a sentence too long for the model is cut into
        pieces translated side by side and joined."""
        if not sentences:
            return []
        translator, source, decoder = self._load()
        pieces: list[list[str]] = []
        owners: list[int] = []
        for index, sentence in enumerate(sentences):
            for part in chunk(sentence, lambda s: len(source.encode(s)) > MAX_INPUT_TOKENS):
                pieces.append(source.encode(part.strip(), out_type=str))
                owners.append(index)
        if not pieces:
            return ["" for _ in sentences]
        results = translator.translate_batch(
            pieces,
            beam_size=self.beam_size,
            max_batch_size=batch_tokens(self.beam_size),
            batch_type="tokens",
            replace_unknowns=True,
        )
        out: list[list[str]] = [[] for _ in sentences]
        for owner, result in zip(owners, results, strict=True):
            out[owner].append(_detokenise(result.hypotheses[0], decoder))
        glue = joiner(self.package.target)
        return [glue.join(p for p in parts if p) for parts in out]


def _detokenise(tokens: list[str], decoder: Any) -> str:
    """Target pieces to text. Argos packages ship only the source SentencePiece model: join the
    pieces and turn the word marks into spaces, as Argos does (decoding target pieces with the
    source model leaves the marks in)."""
    if decoder is not None:
        return str(decoder.decode(tokens)).strip()
    return "".join(tokens).replace("▁", " ").strip()
