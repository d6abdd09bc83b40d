"""Making untrusted text (what customers write) safe to show in a terminal."""

from __future__ import annotations

import re

# ANSI/VT escape sequences (CSI, OSC, single-character escapes), then any other C0/C1 control
# character except newline and tab. Bidi controls are kept: RTL text needs them to read right.
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """Strip escape sequences and control characters; keep newlines, tabs, printable text."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text.replace("\r\n", "\n")))


def one_line(text: str, width: int = 80) -> str:
    """A sanitised single-line preview, cut at ``width`` characters."""
    flat = " ".join(sanitize(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
