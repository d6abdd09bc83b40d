"""Sentence splitting for the 35 languages, by rules: nothing to download, nothing to load.

Translation models are trained on sentences; a ticket is several, often on one line. The
rules, in order:

* a line break always ends a sentence;
* ``。！？｡．`` end a sentence with or without a space after them (Chinese, Japanese), and so
  do ``!`` and ``?`` directly followed by a CJK character;
* ``. ! ? … ؟ । ॥`` (and ``;`` in Greek, its question mark) end a sentence when whitespace
  follows; a full stop does not when the next word starts lower-case or with a digit, when
  the word before it is a known abbreviation or a single letter (an initial), or, in languages
  that write ordinals with a dot (de 3. Mai, fi, pl, cs ...), a number;
* Thai is written without sentence punctuation: a space between two Thai letters ends a
  sentence (a space next to a number or a Latin word does not: ``ราคา 500 บาท``);
* nothing inside an amount, email, URL, date or phone number (see ``placeholders``).

Splitting is lossless: the sentences and the whitespace between them give back the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .placeholders import find_spans

CLOSERS = "\"'”’»)]}」』）】›"
_SPACED_END = re.compile(rf"([.!?…‼⁇⁈⁉;;؟।॥]+[{re.escape(CLOSERS)}]*)(\s+)")
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_END = re.compile(rf"([。！？｡．]+[{re.escape(CLOSERS)}]*|[!?]+(?=[{_CJK}]))(\s*)")
_THAI_SPACE = re.compile(r"(?<=[\u0e01-\u0e4e])([ \t]+)(?=[\u0e01-\u0e4e])")
_LINE_BREAK = re.compile(r"[ \t]*\n\s*")
_LAST_WORD = re.compile(r"(\S+)$")

# Languages whose ordinals are written with a dot: "am 3. Mai" is one sentence.
ORDINAL_DOT = frozenset(
    ["de", "da", "nb", "sv", "fi", "pl", "cs", "sk", "hu", "hr", "sl", "et", "lv", "lt", "tr"]
)

# Words that end with a full stop inside a sentence, by the languages that use them.
_ABBREVIATIONS = {
    "en": "mr mrs ms dr prof st jr sr vs etc e.g i.e inc ltd co no nos approx dept fig tel ext "
    "pp vol ca jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun",
    "de nl": "z.b bzw usw nr str evtl ggf inkl zzgl vgl d.h u.a hr fr geb max min mio mrd dhr "
    "mevr bijv o.a enz m.b.t",
    "fr es it pt ro": "m mme mlle env cf tél p.ex sra srta dra ud uds p.ej núm av pág sig dott "
    "ecc p.es pag dl dna",
    "sv nb da fi et": "t.ex bl.a osv kl f.eks mv m.m dvs mfl evt jf pga esim ks mm nro puh klo "
    "yms jne nt",
    "pl cs sk hu hr sl lv lt tr": "np ul godz tzn tj itp itd m.in např tzv č atd apod resp napr "
    "t.j pl stb kb ún ill npr br god piem utt pvz t.y vb bkz sn",
    "ru uk bg": "т.е т.к т.д т.п г гг ул д им тел стр руб коп см др пр млн млрд тыс т.ч напр вул",
    "el id vi": "κ κα π.χ δηλ τηλ οδ dll dst jl bpk sdr tp ts",
}
ABBREVIATIONS = frozenset(word for words in _ABBREVIATIONS.values() for word in words.split())


@dataclass(frozen=True)
class Sentence:
    """One sentence and the whitespace that followed it in the text."""

    text: str
    sep: str = ""


def split_sentences(text: str, lang: str | None = None) -> list[Sentence]:
    """Split ``text`` into sentences; ``"".join(s.text + s.sep ...)`` gives ``text`` back."""
    protected = [(s.start, s.end) for s in find_spans(text)]
    cuts: dict[int, int] = {}  # sentence end -> start of the next one
    for pattern in (_LINE_BREAK, _THAI_SPACE):
        for match in pattern.finditer(text):
            cuts[match.start()] = match.end()
    for match in _CJK_END.finditer(text):
        cuts.setdefault(match.end(1), match.end())
    for match in _SPACED_END.finditer(text):
        if _ends_sentence(text, match, lang):
            cuts.setdefault(match.end(1), match.end())
    return _pieces(text, sorted(c for c in cuts.items() if not _inside(c[0], protected)))


def _ends_sentence(text: str, match: re.Match[str], lang: str | None) -> bool:
    marks = match.group(1).rstrip(CLOSERS)
    if marks in (";", ";") and lang != "el":
        return False
    following = text[match.end() : match.end() + 1]
    if following[:1].islower() or (marks == "." and following[:1].isdigit()):
        return False
    if marks != ".":
        return True
    word = _LAST_WORD.search(text, 0, match.start())
    token = word.group(1).lstrip("\"'(«“‘[¿¡").lower() if word else ""
    if token in ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
        return False
    return not (token.isdigit() and lang in ORDINAL_DOT)


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < position < end for start, end in spans)


def _pieces(text: str, cuts: list[tuple[int, int]]) -> list[Sentence]:
    out: list[Sentence] = []
    lead = len(text) - len(text.lstrip())
    if lead:
        out.append(Sentence("", text[:lead]))
    cursor = lead
    for end, resume in cuts:
        if end <= cursor:
            continue
        out.append(Sentence(text[cursor:end], text[end:resume]))
        cursor = resume
    if cursor < len(text):
        body = text[cursor:].rstrip()
        out.append(Sentence(body, text[cursor + len(body) :]))
    return out


_BREAKS = (re.compile(r"[,;:，；：、،]\s*"), re.compile(r"\s+"))


def chunk(sentence: str, too_long: Callable[[str], bool]) -> list[str]:
    """Cut a sentence the model cannot take whole, recursively: at a clause break in its middle
    half, else at a space there, else in the middle (CJK text without punctuation)."""
    if len(sentence) < 2 or not too_long(sentence):
        return [sentence]
    size = len(sentence)
    cut = size // 2
    for pattern in _BREAKS:
        breaks = [
            m.end() for m in pattern.finditer(sentence) if size / 4 <= m.end() <= size * 3 / 4
        ]
        if breaks:
            cut = min(breaks, key=lambda b: abs(b - size // 2))
            break
    return chunk(sentence[:cut], too_long) + chunk(sentence[cut:], too_long)


def joiner(lang: str) -> str:
    """What goes between two sentences of ``lang``: nothing in Chinese and Japanese, a space
    elsewhere (Thai included: a space is how Thai ends a sentence)."""
    return "" if lang in ("zh", "ja") else " "
