"""Linear softmax heads: trained with NumPy on frozen embeddings, run in ONNX Runtime.

A head maps a feature vector (an e5 sentence embedding, or detector scores) to class
probabilities: ``softmax(((x - mean) / scale) @ W + b)``. Training is full-batch Adam on the
cross-entropy with L2, which converges in seconds for a few thousand 384-d rows on a laptop CPU;
no scikit-learn needed. The trained head is exported as a tiny ONNX graph so that every model
polydesk runs at triage time goes through ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PolydeskError


@dataclass
class LinearHead:
    weights: np.ndarray  # [features, classes]
    bias: np.ndarray  # [classes]
    mean: np.ndarray  # [features]
    scale: np.ndarray  # [features]

    def logits(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.weights + self.bias

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return softmax(self.logits(features))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit(
    features: np.ndarray,
    labels: np.ndarray,
    classes: int,
    *,
    l2: float = 1e-3,
    epochs: int = 400,
    learning_rate: float = 0.05,
    sample_weights: np.ndarray | None = None,
    standardise: bool = True,
) -> LinearHead:
    """Multinomial logistic regression by full-batch Adam (deterministic: zero init)."""
    x = features.astype(np.float64)
    mean = x.mean(axis=0) if standardise else np.zeros(x.shape[1])
    scale = x.std(axis=0) + 1e-6 if standardise else np.ones(x.shape[1])
    x = (x - mean) / scale
    n, d = x.shape
    target = np.eye(classes)[labels]
    row_weight = (sample_weights if sample_weights is not None else np.ones(n))[:, None]
    row_weight = row_weight / row_weight.sum()
    params = [np.zeros((d, classes)), np.zeros(classes)]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    for step in range(1, epochs + 1):
        grad = (softmax(x @ params[0] + params[1]) - target) * row_weight
        grads = [x.T @ grad + l2 * params[0], grad.sum(axis=0)]
        for p, g, m in zip(params, grads, moments, strict=True):
            m[0] = 0.9 * m[0] + 0.1 * g
            m[1] = 0.999 * m[1] + 0.001 * g * g
            p -= (
                learning_rate
                * (m[0] / (1 - 0.9**step))
                / (np.sqrt(m[1] / (1 - 0.999**step)) + 1e-8)
            )
    return LinearHead(
        params[0].astype(np.float32),
        params[1].astype(np.float32),
        mean.astype(np.float32),
        scale.astype(np.float32),
    )


def to_onnx(head: LinearHead, path: Path, *, name: str = "head") -> None:
    """Write the head as an ONNX graph: features [N, F] float32 -> probabilities [N, C]."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise PolydeskError("exporting a head needs the 'onnx' package") from exc
    # Fold the standardisation into the matmul: ((x - m) / s) W + b = x (W / s) + (b - (m / s) W)
    w = (head.weights / head.scale[:, None]).astype(np.float32)
    b = (head.bias - (head.mean / head.scale) @ head.weights).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        name,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", w.shape[0]])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", w.shape[1]]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", w.shape[1]]),
        ],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


class OnnxHead:
    """A head exported by :func:`to_onnx`, run in ONNX Runtime (one thread: it is tiny)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, logits) for a batch of feature rows."""
        out: Any = self.session.run(
            ["probabilities", "logits"], {"features": features.astype(np.float32)}
        )
        return out[0], out[1]
