"""Sentence splitting in all 35 languages, and the placeholder rules: no model needed."""

from __future__ import annotations

import pytest

from polydesk.languages import CODES
from polydesk.translate.placeholders import complete, find_spans, mask, restore
from polydesk.translate.segment import chunk, split_sentences

from .conftest import SHARED

# "Hello! Where is my order? It has been two weeks." written in each language, as a
# customer would, with each script's own punctuation (Greek ";" is its question mark, Arabic
# "؟", Hindi "।", Chinese and Japanese full-width marks without spaces, Thai only spaces).
HELLO = {
    "en": ["Hello!", "Where is my order?", "It has been two weeks."],
    "de": ["Hallo!", "Wo ist meine Bestellung?", "Es sind schon zwei Wochen vergangen."],
    "sv": ["Hej!", "Var är min beställning?", "Det har gått två veckor."],
    "nb": ["Hei!", "Hvor er bestillingen min?", "Det har gått to uker."],
    "da": ["Hej!", "Hvor er min bestilling?", "Der er gået to uger."],
    "fi": ["Hei!", "Missä tilaukseni on?", "On kulunut jo kaksi viikkoa."],
    "nl": ["Hallo!", "Waar is mijn bestelling?", "Het is al twee weken geleden."],
    "fr": ["Bonjour !", "Où est ma commande ?", "Cela fait deux semaines."],
    "it": ["Ciao!", "Dov'è il mio ordine?", "Sono passate due settimane."],
    "es": ["¡Hola!", "¿Dónde está mi pedido?", "Han pasado dos semanas."],
    "pt": ["Olá!", "Onde está a minha encomenda?", "Já passaram duas semanas."],
    "pl": ["Dzień dobry!", "Gdzie jest moje zamówienie?", "Minęły już dwa tygodnie."],
    "cs": ["Dobrý den!", "Kde je moje objednávka?", "Už uplynuly dva týdny."],
    "sk": ["Dobrý deň!", "Kde je moja objednávka?", "Už prešli dva týždne."],
    "hu": ["Jó napot!", "Hol van a rendelésem?", "Már két hét eltelt."],
    "ro": ["Bună ziua!", "Unde este comanda mea?", "Au trecut deja două săptămâni."],
    "el": ["Γεια σας!", "Πού είναι η παραγγελία μου;", "Έχουν περάσει δύο εβδομάδες."],
    "bg": ["Здравейте!", "Къде е поръчката ми?", "Минаха две седмици."],
    "hr": ["Dobar dan!", "Gdje je moja narudžba?", "Prošla su već dva tjedna."],
    "sl": ["Dober dan!", "Kje je moje naročilo?", "Minila sta že dva tedna."],
    "et": ["Tere!", "Kus mu tellimus on?", "Möödas on juba kaks nädalat."],
    "lv": ["Labdien!", "Kur ir mans pasūtījums?", "Ir pagājušas jau divas nedēļas."],
    "lt": ["Laba diena!", "Kur mano užsakymas?", "Praėjo jau dvi savaitės."],
    "tr": ["Merhaba!", "Siparişim nerede?", "İki hafta oldu."],
    "ru": ["Здравствуйте!", "Где мой заказ?", "Прошло уже две недели."],
    "uk": ["Добрий день!", "Де моє замовлення?", "Минуло вже два тижні."],
    "ar": ["مرحبا!", "أين طلبي؟", "لقد مر أسبوعان."],
    "he": ["שלום!", "איפה ההזמנה שלי?", "עברו כבר שבועיים."],
    "ja": ["こんにちは！", "注文はどこですか？", "もう二週間経ちました。"],
    "ko": ["안녕하세요!", "제 주문은 어디에 있나요?", "벌써 2주가 지났어요."],
    "zh": ["你好！", "我的订单在哪里？", "已经两个星期了。"],
    "hi": ["नमस्ते!", "मेरा ऑर्डर कहाँ है?", "दो हफ़्ते हो गए हैं।"],
    "th": ["สวัสดีครับ", "คำสั่งซื้อของฉันอยู่ที่ไหน", "ผ่านไปสองสัปดาห์แล้ว"],
    "vi": ["Xin chào!", "Đơn hàng của tôi đâu rồi?", "Đã hai tuần rồi."],
    "id": ["Halo!", "Di mana pesanan saya?", "Sudah dua minggu."],
}

# What must stay one sentence: abbreviations, initials, ordinals, decimals, protected spans.
ONE_SENTENCE = [
    ("en", "Mr. Smith paid 3.5 USD for order no. 88231 on 05.03.2024 at 10 a.m. today."),
    ("en", "Write to help@shop.example.com or see https://shop.example.com/a.b?x=1 now."),
    ("de", "Ich habe am 3. Mai z. B. die Nr. 5 für 12,50 € bestellt."),
    ("fr", "M. Dupont a payé 45,90 € etc. pour la commande."),
    ("ru", "Я заказал т.е. оплатил 2 шт. в ул. Ленина, д. 5."),
    ("fi", "Tilasin 3. toukokuuta esim. kaksi paitaa."),
    ("zh", "订单号是A12B-7789，金额¥299.00。"),
    ("th", "ราคา 500 บาท"),
]


@pytest.mark.parametrize("lang", CODES)
def test_three_sentences_in_every_language(lang: str) -> None:
    expected = HELLO[lang]
    glue = "" if lang in ("zh", "ja") else " "
    found = split_sentences(glue.join(expected), lang)
    assert [s.text for s in found] == expected


def test_every_language_has_an_example() -> None:
    assert set(HELLO) == set(CODES)


@pytest.mark.parametrize(("lang", "text"), ONE_SENTENCE)
def test_what_does_not_end_a_sentence(lang: str, text: str) -> None:
    assert [s.text for s in split_sentences(text, lang)] == [text]


def test_line_breaks_end_sentences_and_are_kept() -> None:
    text = "  Hi there\n\nMy order is late. Help?\n"
    found = split_sentences(text, "en")
    assert [s.text for s in found] == ["", "Hi there", "My order is late.", "Help?"]
    assert "".join(s.text + s.sep for s in found) == text


def test_cjk_question_mark_without_space() -> None:
    found = split_sentences("到了吗?我等了很久。", "zh")
    assert [s.text for s in found] == ["到了吗?", "我等了很久。"]


@pytest.mark.parametrize("lang", CODES)
def test_splitting_ntrex_is_lossless(lang: str) -> None:
    path = SHARED / "datasets" / "ntrex-dev" / f"{lang}.txt"
    if not path.exists():
        pytest.skip(f"{path} not present")
    lines = path.read_text("utf-8").splitlines()[:100]
    text = "\n".join(lines)
    found = split_sentences(text, lang)
    assert "".join(s.text + s.sep for s in found) == text
    assert len([s for s in found if s.text]) >= len(lines)


def test_chunk_cuts_at_clause_breaks_near_the_middle() -> None:
    sentence = "one two three, four five six, seven eight nine, ten eleven twelve"
    pieces = chunk(sentence, lambda s: len(s) > 40)
    assert "".join(pieces) == sentence
    assert all(len(p) <= 40 for p in pieces) and pieces[0].endswith(", ")
    cjk = "我" * 100
    assert "".join(chunk(cjk, lambda s: len(s) > 30)) == cjk


SPANS = [
    ("amount", "¥299.00"),
    ("amount", "12,50 €"),
    ("amount", "USD 1,299.99"),
    ("amount", "300 SEK"),
    ("amount", "1 299,00 kr"),
    ("order", "#88231"),
    ("order", "ORD-88231"),
    ("order", "A12B-7789"),
    ("order", "1Z999AA10123456784"),
    ("date", "2024-03-05"),
    ("date", "05.03.2024"),
    ("date", "2024/3/5"),
    ("email", "li.wei+orders@mail.example.cn"),
    ("url", "https://shop.example.com/orders/88231"),
    ("url", "www.example.cn/help?id=7"),
    ("phone", "+86 138 0013 8000"),
    ("phone", "(030) 1234 5678"),
    ("phone", "555-123-4567"),
]


@pytest.mark.parametrize(("kind", "value"), SPANS)
def test_spans_are_found_whole_in_any_script(kind: str, value: str) -> None:
    for text in (f"我的订单{value}还没到。", f"Please check {value}, thanks.", f"«{value}»"):
        assert [(s.kind, s.text) for s in find_spans(text)] == [(kind, value)], text


def test_plain_numbers_and_words_are_left_to_the_model() -> None:
    assert find_spans("In 2019, 3.5 million people paid 299元 on 3月5日.") == []


def test_mask_and_restore() -> None:
    text = "订单ZX7的金额是¥299.00，请联系help@shop.example.com。"
    masked = mask(text)
    assert masked.prefix == "QX"  # the text already holds ZX
    assert masked.text == "订单ZX7的金额是QX1，请联系QX2。"
    assert complete(masked, "Order ZX7 costs QX1, contact QX 2.")
    assert restore(masked, "Order ZX7 costs QX1, contact QX 2.") == (
        "Order ZX7 costs ¥299.00, contact help@shop.example.com."
    )
    assert not complete(masked, "Order costs QX1.")
    assert not complete(masked, "QX1 QX1 QX2")
