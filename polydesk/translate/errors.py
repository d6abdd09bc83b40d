"""The typed errors of translation: what a caller (CLI, TUI, routing) can act on."""

from __future__ import annotations

from ..errors import IntegrityError, NotFoundError, PolydeskError


class NoModelError(NotFoundError):
    """No installed or discovered model covers a pair, directly or through English."""

    def __init__(self, source: str, target: str, installed: list[str]) -> None:
        have = ", ".join(installed) if installed else "none"
        super().__init__(
            f"no translation model covers {source}->{target} (directly or via English); "
            f"installed pairs: {have}; add one with `polydesk models install PATH|URL`"
        )
        self.source = source
        self.target = target


class PackageError(IntegrityError):
    """A model package is unreadable, incomplete or not a translation model polydesk can use."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"model package {where}: {reason}")
        self.where = where
        self.reason = reason


class DownloadError(PolydeskError):
    """A package URL could not be fetched."""
