"""The 35 languages polydesk supports: one list, used everywhere.

Source of truth: ../shared/LANGUAGES.md. Codes are ISO 639-1 (BCP 47 base tags).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str
    english_name: str
    native_name: str
    script: str
    rtl: bool = False

    @property
    def spaced(self) -> bool:
        """False for scripts written without spaces between words."""
        return self.code not in {"ja", "zh", "th"}


LANGUAGES: tuple[Language, ...] = (
    Language("en", "English", "English", "Latin"),
    Language("de", "German", "Deutsch", "Latin"),
    Language("sv", "Swedish", "Svenska", "Latin"),
    Language("nb", "Norwegian Bokmål", "Norsk bokmål", "Latin"),
    Language("da", "Danish", "Dansk", "Latin"),
    Language("fi", "Finnish", "Suomi", "Latin"),
    Language("nl", "Dutch", "Nederlands", "Latin"),
    Language("fr", "French", "Français", "Latin"),
    Language("it", "Italian", "Italiano", "Latin"),
    Language("es", "Spanish", "Español", "Latin"),
    Language("pt", "Portuguese", "Português", "Latin"),
    Language("pl", "Polish", "Polski", "Latin"),
    Language("cs", "Czech", "Čeština", "Latin"),
    Language("sk", "Slovak", "Slovenčina", "Latin"),
    Language("hu", "Hungarian", "Magyar", "Latin"),
    Language("ro", "Romanian", "Română", "Latin"),
    Language("el", "Greek", "Ελληνικά", "Greek"),
    Language("bg", "Bulgarian", "Български", "Cyrillic"),
    Language("hr", "Croatian", "Hrvatski", "Latin"),
    Language("sl", "Slovenian", "Slovenščina", "Latin"),
    Language("et", "Estonian", "Eesti", "Latin"),
    Language("lv", "Latvian", "Latviešu", "Latin"),
    Language("lt", "Lithuanian", "Lietuvių", "Latin"),
    Language("tr", "Turkish", "Türkçe", "Latin"),
    Language("ru", "Russian", "Русский", "Cyrillic"),
    Language("uk", "Ukrainian", "Українська", "Cyrillic"),
    Language("ar", "Arabic", "العربية", "Arabic", rtl=True),
    Language("he", "Hebrew", "עברית", "Hebrew", rtl=True),
    Language("ja", "Japanese", "日本語", "Han/Kana"),
    Language("ko", "Korean", "한국어", "Hangul"),
    Language("zh", "Chinese (Simplified)", "简体中文", "Han"),
    Language("hi", "Hindi", "हिन्दी", "Devanagari"),
    Language("th", "Thai", "ไทย", "Thai"),
    Language("vi", "Vietnamese", "Tiếng Việt", "Latin"),
    Language("id", "Indonesian", "Bahasa Indonesia", "Latin"),
)

CODES: tuple[str, ...] = tuple(lang.code for lang in LANGUAGES)
BY_CODE: dict[str, Language] = {lang.code: lang for lang in LANGUAGES}


def is_supported(code: str) -> bool:
    return code in BY_CODE


def normalise_code(code: str) -> str:
    """Map a BCP 47 tag such as ``pt-BR`` or ``zh_Hans`` to its supported base code.

    Norwegian ``no``/``nn`` map to ``nb``. Raises ``KeyError`` for anything else.
    """
    base = code.strip().replace("_", "-").split("-")[0].lower()
    base = {"no": "nb", "nn": "nb"}.get(base, base)
    if base not in BY_CODE:
        raise KeyError(code)
    return base
