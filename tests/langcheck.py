"""Language detection used by tests that check hand-written texts are in the right language."""

from __future__ import annotations

from functools import lru_cache

from polydesk.languages import CODES


@lru_cache(maxsize=1)
def _identifier():  # type: ignore[no-untyped-def]
    import py3langid.langid as langid

    ident = langid.LanguageIdentifier.from_model_file(
        langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True
    )
    ident.set_languages([{"nb": "no"}.get(c, c) for c in CODES])
    return ident


def detect(text: str) -> tuple[str, float]:
    code, prob = _identifier().classify(text)
    return {"no": "nb"}.get(code, code), float(prob)
