"""Triage parts that need no model files: linear heads, calibration, routing, input parsing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from polydesk.errors import InvalidValueError
from polydesk.triage import calibration, heads, linear, policy, training
from polydesk.triage.heads import Prediction
from polydesk.triage.pipeline import encoder_text


def blobs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 8) * 4
    y = np.repeat(np.arange(3), n)
    return (centres[y] + rng.normal(size=(3 * n, 8))).astype(np.float32), y


def test_linear_head_learns_and_onnx_matches_numpy(tmp_path: Path) -> None:
    x, y = blobs()
    head = linear.fit(x, y, 3)
    assert (head.predict_proba(x).argmax(1) == y).mean() > 0.95
    linear.to_onnx(head, tmp_path / "h.onnx")
    probs, logits = linear.OnnxHead(tmp_path / "h.onnx").run(x)
    np.testing.assert_allclose(probs, head.predict_proba(x), atol=1e-4)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert logits.shape == (len(x), 3)


def test_training_is_deterministic() -> None:
    x, y = blobs()
    a, b = linear.fit(x, y, 3), linear.fit(x, y, 3)
    np.testing.assert_array_equal(a.weights, b.weights)


def test_oos_calibration_keeps_in_scope() -> None:
    kept = np.linspace(0.5, 1.0, 100)
    caught = np.array([0.3, 0.4, 0.5, 0.55, 0.9])
    threshold, stats = heads.calibrate_oos(kept, caught, keep=0.95)
    assert 0.95 <= stats["in_scope_kept"] <= 0.96
    assert 0.52 < threshold < 0.53 and stats["oos_caught"] == 0.6


def test_oos_calibration_with_a_class_weighs_cost_against_catch() -> None:
    kept = np.linspace(0.2, 1.0, 100)
    right = kept > 0.3  # the least confident in-scope rows are wrong anyway
    caught = np.array([-1.0, -1.0, 0.25, 0.28, 0.9])  # -1: the class itself caught it
    # rare out-of-scope tickets: flag only what is wrong anyway (up to 0.3), not 5% of rows
    threshold, stats = heads.calibrate_oos(kept, caught, right=right, share=0.04)
    assert 0.28 < threshold <= 0.31
    assert stats["oos_caught"] == 0.8 and stats["oos_share"] == 0.04
    assert stats["in_scope_kept"] == 0.9  # only rows below 0.3 (wrong anyway) are flagged
    # were they common, the threshold would climb to catch the confident one
    threshold, stats = heads.calibrate_oos(kept, caught, right=right, share=0.9)
    assert threshold > 0.9 and stats["oos_caught"] == 1.0


def test_predictions_margin_alternatives_and_oos() -> None:
    info = heads.HeadInfo("t", "intent", ["a", "b", "c"], oos_threshold=0.5)
    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]])
    first, second = heads.predictions(probs, info)
    assert first.label == "a" and first.margin == pytest.approx(0.5)
    assert [x[0] for x in first.alternatives] == ["a", "b", "c"]
    assert second.label == heads.OUT_OF_SCOPE
    assert second.alternatives[0][0] == "a"


def test_holdout_is_stratified() -> None:
    labels = ["a"] * 50 + ["b"] * 20 + ["c"] * 1
    mask = heads.split_holdout(labels, 0.1, seed=1)
    assert mask[:50].sum() == 5 and mask[50:70].sum() == 2 and mask[70:].sum() == 0


def pred(label: str, confidence: float = 0.9, margin: float = 0.5) -> Prediction:
    return Prediction(label, confidence, margin, ((label, confidence), ("other", 0.05)))


POLICY = policy.load_policy()


@pytest.mark.parametrize(
    ("intent", "mood", "contacts", "route", "reason"),
    [
        (pred("order_status"), pred("neutral"), 1, "auto", "routine order status"),
        (pred("fraud_unrecognised"), pred("urgent"), 1, "specialist", "sensitive: fraud"),
        (pred("complaint"), pred("angry"), 1, "agent", "sensitive: complaint"),
        (pred("out_of_scope"), None, 1, "agent", "out of scope"),
        (pred("order_status"), pred("angry"), 1, "agent", "customer is angry"),
        (pred("order_status"), pred("angry", 0.3), 1, "auto", "routine"),
        (pred("order_status"), None, 2, "agent", "repeat contact"),
        (pred("charged_twice"), None, 1, "agent", "needs a person: charged twice"),
        (pred("order_status", 0.5), None, 1, "agent", "unsure of intent (0.50 < 0.75 for sv)"),
        (pred("order_status", 0.9, 0.1), None, 1, "agent", "close call: order_status or other"),
    ],
)
def test_routing_rules(
    intent: Prediction, mood: Prediction | None, contacts: int, route: str, reason: str
) -> None:
    decided = policy.decide(intent, mood, "sv", 0.99, POLICY, contacts=contacts)
    assert decided.route == route
    assert reason in decided.reason


def test_per_language_threshold_and_unclear_language() -> None:
    rules = json.loads(json.dumps(POLICY))
    rules["auto"]["language_min_confidence"] = {"th": 0.95}
    assert policy.decide(pred("order_status"), None, "th", 0.99, rules).route == "agent"
    assert policy.decide(pred("order_status"), None, "sv", 0.99, rules).route == "auto"
    unclear = policy.decide(pred("order_status"), None, "nb", 0.4, rules)
    assert unclear.route == "agent" and "language unclear" in unclear.reason


def test_head_thresholds_apply_per_language_above_the_policy_floor() -> None:
    head = {"lt": 0.9, "sv": 0.5}
    lt = policy.decide(pred("order_status", 0.85), None, "lt", 0.99, POLICY, thresholds=head)
    assert lt.route == "agent" and "0.85 < 0.90 for lt" in lt.reason
    # a head threshold below the policy's min_confidence does not lower the floor
    sv = policy.decide(pred("order_status", 0.7), None, "sv", 0.99, POLICY, thresholds=head)
    assert sv.route == "agent" and "0.70 < 0.75" in sv.reason
    rules = json.loads(json.dumps(POLICY))
    rules["auto"]["language_min_confidence"] = {"lt": 0.8}  # the operator's word wins
    lt = policy.decide(pred("order_status", 0.85), None, "lt", 0.99, rules, thresholds=head)
    assert lt.route == "auto"


def calibration_rows(confidences: list[float], correct: list[bool]) -> calibration.Rows:
    n = len(confidences)
    return calibration.Rows(
        np.array(confidences), np.ones(n), np.ones(n, dtype=bool), np.array(correct)
    )


def test_threshold_is_the_lowest_that_keeps_wrong_answers_bounded() -> None:
    rows = calibration_rows(
        [0.99, 0.95, 0.9, 0.85, 0.8, 0.7], [True, True, False, True, False, True]
    )
    # 6 rows, max 1/6 wrong: 0.8 answers both wrong rows (0.9, 0.8); 0.85 answers one
    assert calibration.threshold_for(rows, max_wrong=1 / 6, floor=0.5, min_margin=0) == 0.85
    assert calibration.threshold_for(rows, max_wrong=0.0, floor=0.5, min_margin=0) == 0.95
    assert calibration.threshold_for(rows, max_wrong=0.5, floor=0.5, min_margin=0) == 0.5
    never = calibration_rows([0.99], [False])
    assert calibration.threshold_for(never, max_wrong=0.0, floor=0.5, min_margin=0) == 1.0


def test_calibrate_reports_cross_fitted_outcomes() -> None:
    rng = np.random.default_rng(0)
    preds, gold, langs = [], [], []
    for lang, skill in (("en", 0.95), ("lt", 0.7)):
        for i in range(200):
            right = rng.random() < skill
            conf = float(rng.uniform(0.8, 1.0) if right else rng.uniform(0.5, 0.95))
            label = "order_status" if i % 2 else "payment_schedule"
            guess = label if right else "refund_status"
            preds.append(Prediction(guess, conf, 0.5, ((guess, conf),)))
            gold.append(label)
            langs.append(lang)
    auto = {"order_status", "payment_schedule", "refund_status"}
    result = calibration.calibrate(
        preds, gold, langs, auto, max_wrong=0.02, floor=0.6, min_margin=0.2
    )
    en, lt = result["per_language"]["en"], result["per_language"]["lt"]
    assert result["thresholds"]["lt"] > result["thresholds"]["en"]
    assert en["cross_fitted"]["auto_rate"] > lt["cross_fitted"]["auto_rate"]
    assert lt["at_floor"]["wrong_auto_rate"] > 0.1
    assert lt["cross_fitted"]["wrong_auto_rate"] < 0.06


def test_priority() -> None:
    assert policy.decide(pred("fraud_unrecognised"), None, "sv", 1, POLICY).priority == "urgent"
    assert policy.decide(pred("order_status"), pred("angry"), "sv", 1, POLICY).priority == "high"
    assert policy.decide(pred("out_of_scope"), None, "sv", 1, POLICY).priority == "low"


def test_read_examples_jsonl_and_csv(tmp_path: Path) -> None:
    jsonl = tmp_path / "x.jsonl"
    jsonl.write_text(
        '{"text": "where is it", "intent": "order_status", "language": "en"}\n'
        '{"text": "refund pls", "intent": "refund_request"}\n'
    )
    data = training.read_examples(jsonl)
    assert data.labels == ["order_status", "refund_request"] and data.languages == ["en", None]
    csv = tmp_path / "b.csv"
    csv.write_text("text,category\nI lost my card,lost_or_stolen_card\nfee?,card_fees\n")
    assert training.read_examples(csv).labels == ["lost_or_stolen_card", "card_fees"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "x", "intent": "a"}\n{"text": "", "intent": "b"}\n', ":2: text"),
        ('{"text": "x", "intent": "a"}\nnot json\n', ":2"),
        ('{"text": "x", "intent": "a", "language": "xx"}\n', "unknown code"),
        ('{"text": "x", "intent": "a"}\n{"text": "y", "intent": "a"}\n', "two intents"),
    ],
)
def test_read_examples_names_bad_rows(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InvalidValueError, match=message):
        training.read_examples(path)


def test_evaluation_figures() -> None:
    result = training.evaluate(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["en", "sv", "sv", None])
    assert result.accuracy == 0.75
    assert result.per_intent["a"] == {"rows": 2, "precision": 1.0, "recall": 0.5, "f1": 0.6667}
    assert result.per_language["sv"] == {"rows": 2, "accuracy": 0.5}
    assert result.confusions == [{"gold": "a", "predicted": "b", "count": 1}]
    assert result.macro_f1 == pytest.approx((0.6667 + 0.8) / 2, abs=1e-3)


def test_pipe_line_parsing() -> None:
    from polydesk.cli.triage import parse_line

    item = parse_line(3, '{"id": "T-9", "text": "hej", "language": "sv", "contacts": 2}')
    assert not isinstance(item, str)
    assert (item.id, item.text, item.profile_language, item.contacts) == ("T-9", "hej", "sv", 2)
    plain = parse_line(4, "var är mitt paket?\n")
    assert not isinstance(plain, str) and plain.id == 4
    assert (
        parse_line(5, "{broken") == "malformed JSON: Expecting property name enclosed in "
        "double quotes at column 2"
    )
    assert "text" in str(parse_line(6, '{"id": 1}'))
    assert parse_line(7, "   ") == "empty line"


def test_centring_removes_each_language_offset() -> None:
    from polydesk.languages import CODES
    from polydesk.triage.centring import Centring

    rng = np.random.default_rng(1)
    offsets = {code: rng.normal(size=8) * 3 for code in CODES}
    langs = [code for code in CODES for _ in range(4)]
    meaning = rng.normal(size=(len(langs), 8))
    vectors = meaning + np.stack([offsets[c] for c in langs])
    centring = Centring.estimate(vectors, langs)
    out = centring.apply(vectors, langs)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    by_lang = {c: out[np.array(langs) == c].mean(axis=0) for c in ("en", "lt", "ja")}
    assert all(np.linalg.norm(v) < 0.6 for v in by_lang.values())
    # an unknown language gets the average offset, not a crash
    assert centring.apply(vectors[:1], [None]).shape == (1, 8)
    with pytest.raises(ValueError, match="no texts in"):
        Centring.estimate(vectors[:4], langs[:4])


def test_a_joined_view_is_its_parts_side_by_side_at_unit_length() -> None:
    from polydesk.triage.encoder import join_views, view_parts

    assert view_parts("general") == ("general",)
    assert view_parts("intent+general") == ("intent", "general")
    rng = np.random.default_rng(2)
    a, b = (rng.normal(size=(5, 4)) for _ in range(2))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    assert join_views([a]) is a
    joined = join_views([a, b])
    assert joined.shape == (5, 8) and joined.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(joined, axis=1), 1.0, rtol=1e-6)
    # cosine in the joined space is the mean of the parts' cosines
    np.testing.assert_allclose(joined @ joined[0], (a @ a[0] + b @ b[0]) / 2, rtol=1e-5)


def test_head_info_round_trips_thresholds_and_centring() -> None:
    info = heads.HeadInfo("x", "intent", ["a", "b"], 0.3, language_thresholds={"lt": 0.9})
    info.centred = True
    again = heads.HeadInfo.from_json(json.loads(json.dumps(info.to_json())))
    assert again.centred and again.language_thresholds == {"lt": 0.9}
    old = heads.HeadInfo.from_json({"name": "y", "kind": "intent", "labels": ["a", "b"]})
    assert not old.centred and old.language_thresholds == {}


@pytest.mark.parametrize("temperature", [None, 0.03])
def test_blended_head_onnx_matches_numpy(tmp_path: Path, temperature: float | None) -> None:
    x, y = blobs()
    blended = linear.blend(linear.fit(x, y, 3), x, y, 3, temperature=temperature)
    probs = blended.predict_proba(x)
    assert (probs.argmax(1) == y).mean() > 0.95
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)
    linear.blended_to_onnx(blended, tmp_path / "b.onnx")
    onnx_probs, logits = linear.OnnxHead(tmp_path / "b.onnx").run(x[:50])
    np.testing.assert_allclose(onnx_probs, probs[:50], atol=2e-2)
    assert (onnx_probs.argmax(1) == probs[:50].argmax(1)).all()
    np.testing.assert_allclose(logits, blended.linear.logits(x[:50]), atol=1e-3)


def test_tempered_votes_favour_the_closest_rows(tmp_path: Path) -> None:
    # one row of class 0 very close to the query, nine of class 1 a little further away
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    angles = np.array([0.05] + [0.30] * 9)
    memory = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    labels = np.array([0] + [1] * 9)
    head = linear.fit(memory, labels, 2)
    plain = linear.blend(head, memory, labels, 2)
    tempered = linear.blend(head, memory, labels, 2, temperature=0.01)
    assert plain.votes(query).argmax() == 1  # nine similar rows outvote the closest one
    assert tempered.votes(query).argmax() == 0
    far = np.exp((np.cos(0.30) - np.cos(0.05)) / 0.01)
    assert tempered.votes(query)[0, 0] == pytest.approx(1 / (1 + 9 * far), abs=0.01)
    linear.blended_to_onnx(tempered, tmp_path / "t.onnx")
    onnx_probs, _ = linear.OnnxHead(tmp_path / "t.onnx").run(query)
    np.testing.assert_allclose(onnx_probs, tempered.predict_proba(query), atol=2e-2)


def test_fit_head_chooses_the_vote_temperature_on_held_out_rows() -> None:
    x, y = blobs(n=80)
    names = [f"c{v}" for v in y]
    data = heads.TrainingSet([""] * len(y), names, ["en"] * len(y))
    head, _, _, calibration = heads.fit_head(x, data, oos_embeddings=None)
    scores = calibration["blend_held_out_accuracy"]
    assert set(scores) == {"linear", "blended"} | {
        f"blended@{t}" for t in heads.TEMPERATURE_CANDIDATES if t is not None
    }
    assert isinstance(head, linear.BlendedHead)
    chosen = calibration["vote_temperature"]
    assert head.temperature == chosen
    assert scores["blended" if chosen is None else f"blended@{chosen}"] == max(
        v for k, v in scores.items() if k != "linear"
    )


def test_out_of_scope_threshold_per_language() -> None:
    info = heads.HeadInfo("x", "intent", ["a", "b"], 0.6, oos_thresholds={"lt": 0.4})
    probs = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    labels = [p.label for p in heads.predictions(probs, info, ["en", "lt", None])]
    assert labels == ["out_of_scope", "a", "out_of_scope"]
    kept = np.concatenate([np.linspace(0.7, 1.0, 40), np.linspace(0.2, 0.9, 40)])
    langs = ["en"] * 40 + ["lt"] * 40 + []
    found = heads._language_oos_thresholds(kept, langs, overall=0.5)
    assert found["en"] == 0.5 and found["lt"] < 0.3  # never stricter than the overall one
    assert heads._language_oos_thresholds(kept[:10], langs[:10], overall=0.5) == {}


def test_encoder_text_drops_optional_arabic_marks_only() -> None:
    # tanwin, shadda, short vowels, sukun and the tatweel go; the letters stay
    assert encoder_text("شكراً جزيلاً") == "شكرا جزيلا"
    assert encoder_text("مُحَمَّد") == "محمد"
    assert encoder_text("شكــــرا") == "شكرا"
    # hamza and alif forms, ta marbuta and alif maqsura are letters a customer chose: kept
    assert encoder_text("أإآ ؤئ ة ى") == "أإآ ؤئ ة ى"
    # nothing outside those Arabic marks changes: other scripts' diacritics, Hebrew points
    for text in ("Größe été ščř", "Tiếng Việt", "שָׁלוֹם", "हिन्दी", "日本語のテキスト"):
        assert encoder_text(text) == text
