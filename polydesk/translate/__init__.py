"""Translation: CTranslate2 models from Argos / OPUS-MT packages, pivoting through English,
protected placeholders and a translation memory. Honest about coverage: a pair no model covers
raises :class:`NoModelError` (and :func:`coverage.plan` says "none"), never a made-up text.

Nothing heavy is imported here: the runtimes load with the first translation.
"""

from __future__ import annotations

from ..store.memory import Memory
from .coverage import Route
from .errors import DownloadError, NoModelError, PackageError
from .service import Translation, Translator

__all__ = [
    "DownloadError",
    "Memory",
    "NoModelError",
    "PackageError",
    "Route",
    "Translation",
    "Translator",
]
