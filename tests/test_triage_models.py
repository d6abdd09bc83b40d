"""The real models end to end: language id, intents, routing, the CLI pipes and DB triage.

These run on the built encoder (``scripts/build_encoder.py``, run by ``scripts/setup``) and the
shipped heads; without the encoder they skip, saying how to build it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from polydesk.triage import registry
from polydesk.triage.pipeline import ENCODER, Pipeline, TicketText

from .conftest import Invoker

pytestmark = pytest.mark.skipif(
    not (registry.build_dir() / ENCODER / "encoder.onnx").exists(),
    reason="encoder not built: run scripts/setup (python scripts/build_encoder.py)",
)


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    yield Pipeline()


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("hej, var är mitt paket?", "sv"),
        ("Hvor er pakken min? Jeg har ventet i to uker.", "nb"),
        ("Hvornår kommer min pakke? Jeg har ventet i over en uge.", "da"),
        ("Kde je moje objednávka? Čekám už týden.", "cs"),
        ("Kde je moja objednávka? Čakám už týždeň.", "sk"),
        ("我的订单还没到，已经两个星期了", "zh"),
        ("注文した商品がまだ届きません", "ja"),
        ("أين طلبي؟ لم يصل بعد", "ar"),
        ("Onde está a minha encomenda?", "pt"),
        ("¿Dónde está mi pedido?", "es"),
    ],
)
def test_language_id_golden(pipeline: Pipeline, text: str, lang: str) -> None:
    [found] = pipeline.detect([text])
    assert found.language == lang, found
    assert 0 < found.confidence <= 1 and found.alternatives[0][0] == lang


@pytest.mark.parametrize(
    ("text", "script_languages"),
    [
        ("ok", "Latin"),
        ("hola", "Latin"),
        ("Спасибо", "Cyrillic"),
        ("谢谢", "Han"),
    ],
)
def test_a_language_must_match_the_script(
    pipeline: Pipeline, text: str, script_languages: str
) -> None:
    from polydesk.languages import BY_CODE

    [found] = pipeline.detect([text])
    assert BY_CODE[found.language].script.startswith(script_languages), found


def test_profile_language_settles_an_ambiguous_text(pipeline: Pipeline) -> None:
    text = "Hvor er min pakke?"  # Danish and Norwegian alike ("Hej," would mark it Danish)
    with_da, with_nb = pipeline.detect([text, text], ["da", "nb"])
    assert (with_da.language, with_nb.language) == ("da", "nb")
    [clear] = pipeline.detect(["Var är mitt paket? Jag har väntat i två veckor nu."], ["da"])
    assert clear.language == "sv", "a clear text in another language beats the prior"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Where is my order? It was supposed to arrive on Monday.", "order_status"),
        ("Ni har dragit pengarna två gånger för samma köp!", "charged_twice"),
        ("Someone used my card to buy things I never ordered", "fraud_unrecognised"),
        ("Mein Vater ist letzten Monat verstorben, was passiert mit seinem Konto?", "bereavement"),
        ("¿Cuál es la receta de la paella valenciana?", "out_of_scope"),
    ],
)
def test_intent_golden(pipeline: Pipeline, text: str, intent: str) -> None:
    [prediction] = pipeline.classify([text])
    assert prediction.label == intent, prediction
    assert prediction.margin >= 0 and len(prediction.alternatives) == 3


def test_triage_result_shape(pipeline: Pipeline) -> None:
    [result] = pipeline.triage([TicketText("T-1", "Someone stole my card and bought a TV")])
    record = result.as_dict()
    for key in (
        "lang",
        "lang_confidence",
        "intent",
        "confidence",
        "margin",
        "alternatives",
        "sentiment",
        "route",
        "reason",
        "priority",
    ):
        assert key in record
    assert record["route"] == "specialist"


def test_embedding_is_batch_independent(pipeline: Pipeline) -> None:
    texts = ["short", "a much longer text about an order that has not arrived " * 5, "hej"]
    together = pipeline.embed(texts)
    alone = pipeline.embed(texts[1:2])
    assert float(together[1] @ alone[0]) > 0.999


def test_the_encoder_reads_arabic_without_optional_marks(pipeline: Pipeline) -> None:
    marked = pipeline.embed_views(["شكراً، أريد استرداد المبلغ فوراً"])
    plain = pipeline.embed_views(["شكرا، أريد استرداد المبلغ فورا"])
    for view in marked:
        np.testing.assert_allclose(marked[view], plain[view], atol=1e-6)


def test_triage_pipe(invoke: Invoker) -> None:
    lines = "\n".join(
        [
            json.dumps({"id": "a", "text": "hej, var är mitt paket?", "language": "sv"}),
            "{not json",
            '{"id": "b"}',
            "Where is my refund? You promised it last week.",
        ]
    )
    result = invoke("triage", input=lines, code=3)
    records = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r.get("id", r.get("line")) for r in records] == ["a", 2, 3, 4]
    assert records[0]["lang"] == "sv" and "intent" in records[0]
    assert "error" in records[1] and "text" in records[2]["error"]
    assert records[3]["lang"] == "en"


def test_detect_and_classify_commands(invoke: Invoker) -> None:
    detected = json.loads(invoke("detect", "Kde je moja objednávka? Čakám už týždeň.").stdout)
    assert detected["lang"] == "sk"
    classified = json.loads(invoke("classify", "I was charged twice for one order").stdout)
    assert classified["intent"] == "charged_twice"


def test_triage_db(invoke: Invoker) -> None:
    invoke("init")
    rows = [
        {"id": "x1", "body": "Jag har blivit dragen två gånger för samma beställning!"},
        {"id": "x2", "body": "Wann ist meine nächste Rate fällig?"},
        {"id": "x3", "body": "My husband passed away, how do I close his account?"},
    ]
    invoke("import", "tickets", "-", input="\n".join(json.dumps(r) for r in rows))
    invoke("triage", "--db")
    tickets = {t["external_id"]: t for t in json.loads(invoke("tickets", "list", "--json").stdout)}
    assert tickets["x1"]["status"] == "escalated" and tickets["x1"]["intent"] == "charged_twice"
    assert tickets["x3"]["route"] == "specialist"
    assert tickets["x2"]["language"] == "de"
    assert {t["status"] for t in tickets.values()} <= {"triaged", "escalated"}
    assert json.loads(invoke("events", "verify", "--json").stdout)["ok"]
    again = invoke("triage", "--db")
    assert "none were new" in again.stderr


def test_train_a_head_and_use_it(invoke: Invoker, tmp_path: Path) -> None:
    rows = [
        {"text": t, "intent": "greeting"}
        for t in ("hello there", "hi!", "good morning", "hey team", "hallo zusammen", "hola")
    ]
    rows += [
        {"text": t, "intent": "goodbye"}
        for t in ("bye now", "see you later", "goodbye", "tschüss", "adiós amigo", "ciao ciao")
    ]
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    report = json.loads(invoke("intents", "train", str(path), "--name", "tiny", "--json").stdout)
    assert report["labels"] == ["goodbye", "greeting"] and report["oos_threshold"] is not None
    listed = {h["name"]: h for h in json.loads(invoke("intents", "list", "--json").stdout)}
    assert listed["tiny"]["origin"] == "trained" and listed["default"]["origin"] == "shipped"
    out = json.loads(invoke("classify", "--head", "tiny", "good evening everyone").stdout)
    assert out["alternatives"][0][0] == "greeting"
    evaluation = json.loads(invoke("intents", "eval", str(path), "--name", "tiny", "--json").stdout)
    assert evaluation["accuracy"] >= 0.9 and set(evaluation) >= {"per_intent", "per_language"}
    refused = invoke("intents", "train", str(path), "--name", "default", code=5)
    assert "shipped head" in refused.stderr


def test_calibrate_per_language_thresholds(invoke: Invoker, tmp_path: Path) -> None:
    rows = [
        {"text": t, "intent": "order_status", "language": lang}
        for lang, t in (
            ("en", "where is my parcel"),
            ("en", "my order has not arrived yet"),
            ("en", "tracking says nothing since Monday"),
            ("de", "wo bleibt mein Paket"),
            ("de", "meine Bestellung ist noch nicht da"),
            ("de", "die Sendungsverfolgung zeigt seit Montag nichts"),
        )
    ]
    rows += [
        {"text": t, "intent": "payment_schedule", "language": lang}
        for lang, t in (
            ("en", "when is my next instalment due"),
            ("en", "how much is the next payment"),
            ("en", "what dates are my payments on"),
            ("de", "wann ist die nächste Rate fällig"),
            ("de", "wie hoch ist die nächste Zahlung"),
            ("de", "an welchen Tagen werden die Raten abgebucht"),
        )
    ]
    path = tmp_path / "two.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    invoke("intents", "train", str(path), "--name", "two")
    report = json.loads(invoke("intents", "calibrate", str(path), "--name", "two", "--json").stdout)
    assert set(report["thresholds"]) == {"en", "de"}
    assert all(0.75 <= t <= 1.0 for t in report["thresholds"].values())
    assert set(report["per_language"]["de"]["cross_fitted"]) >= {"auto_rate", "wrong_auto_rate"}
    evaluation = json.loads(invoke("intents", "eval", str(path), "--name", "two", "--json").stdout)
    assert evaluation["automation"]["de"]["threshold"] == max(0.75, report["thresholds"]["de"])
    table = invoke("intents", "eval", str(path), "--name", "two").stdout
    assert "wrong_auto_rate" in table.replace(" ", "_") or "wrong auto rate" in table.lower()
    refused = invoke("intents", "calibrate", str(path), "--name", "default", code=5)
    assert "shipped head" in refused.stderr
    bad = invoke("intents", "calibrate", str(path), "--name", "two", "--max-wrong", "1.5", code=2)
    assert "--max-wrong" in bad.stderr


def _has_intent_view() -> bool:
    manifest = json.loads((registry.build_dir() / ENCODER / "manifest.json").read_text("utf-8"))
    return "intent" in manifest.get("views", {})


def test_the_default_head_reads_the_adapted_view(pipeline: Pipeline) -> None:
    if not _has_intent_view():
        pytest.skip("encoder built without models/adapters/intent.npz")
    # the shipped head reads the adapted view beside the general one (build_heads.py)
    assert pipeline.head.info.view == "intent+general"
    assert pipeline.views() == ("general", "intent")
    texts = ["where is my parcel?", "Wo bleibt mein Paket?", "我的退款什么时候到账"]
    views = pipeline.embed_views(texts)
    general, intent = views["general"], views["intent"]
    assert general.shape == intent.shape == (3, 384)
    assert np.allclose(general, pipeline.embed(texts), atol=1e-6)  # one pass, same general view
    assert np.allclose(np.linalg.norm(intent, axis=1), 1.0, atol=1e-4)
    # the adapter moves the embedding, but not into another space
    cosines = np.sum(general * intent, axis=1)
    assert np.all(cosines < 0.999) and np.all(cosines > 0.3)
    alone = np.vstack([pipeline.embed([t], view="intent") for t in texts])
    # int8 activations have one scale per token, so batch-mates (and their padding) never
    # move a vector: only fp32 summation order differs
    assert np.min(np.sum(alone * intent, axis=1)) > 0.99999
    with pytest.raises(ValueError, match="intent"):
        pipeline.head_input(general, ["en", "de", "zh"])
    # what the head reads: each view centred on its own language means, side by side
    langs = ["en", "de", "zh"]
    joined = pipeline.head_input(views, langs)
    assert joined.shape == (3, 768)
    half = np.sqrt(0.5)
    centred_intent = pipeline.centring_for("intent").apply(intent, langs)
    centred_general = pipeline.centring_for("general").apply(general, langs)
    assert np.allclose(joined[:, :384], centred_intent * half, atol=1e-6)
    assert np.allclose(joined[:, 384:], centred_general * half, atol=1e-6)
    assert not np.allclose(centred_intent, centred_general, atol=1e-2)


def test_train_an_operator_head_on_the_intent_view(invoke: Invoker, tmp_path: Path) -> None:
    if not _has_intent_view():
        pytest.skip("encoder built without models/adapters/intent.npz")
    rows = [
        {"text": t, "intent": i}
        for i, texts in (
            ("where_is_it", ("where is my parcel", "wo ist mein Paket", "où est mon colis")),
            ("money_back", ("I want a refund", "ich will mein Geld zurück", "remboursez-moi")),
        )
        for t in texts
    ]
    path = tmp_path / "views.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")

    def train_and_classify(name: str, view: str, text: str) -> tuple[dict, dict]:
        args = ("intents", "train", str(path), "--name", name, "--view", view, "--json")
        report = json.loads(invoke(*args).stdout)
        return report, json.loads(invoke("classify", "--head", name, text).stdout)

    report, out = train_and_classify("viewed", "intent", "dónde está mi paquete")
    assert report["view"] == "intent"
    assert out["alternatives"][0][0] == "where_is_it"
    both, out = train_and_classify("both", "intent+general", "wo ist mein Paket bitte")
    assert both["view"] == "intent+general"
    assert out["alternatives"][0][0] == "where_is_it"
    bad = invoke("intents", "train", str(path), "--name", "x", "--view", "nope", code=1)
    assert "--view" in bad.stderr and "general" in bad.stderr
    bad = invoke("intents", "train", str(path), "--name", "x", "--view", "intent+nope", code=1)
    assert "'nope'" in bad.stderr and "joined with '+'" in bad.stderr
