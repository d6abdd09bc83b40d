"""Where polydesk keeps its state, and the settings that can be overridden from the environment."""

from __future__ import annotations

import os
from pathlib import Path

DB_ENV = "POLYDESK_DB"
HOME_ENV = "POLYDESK_HOME"
MAX_BODY_ENV = "POLYDESK_MAX_BODY"
DEFAULT_MAX_BODY = 20_000  # characters; longer customer bodies are rejected at import


def data_dir() -> Path:
    """The directory for polydesk's data: ``$POLYDESK_HOME``, else ``$XDG_DATA_HOME/polydesk``."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home)
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "polydesk"


def db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The ticket database: the explicit path, else ``$POLYDESK_DB``, else the data dir."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env)
    return data_dir() / "polydesk.db"


def max_body_chars() -> int:
    value = os.environ.get(MAX_BODY_ENV)
    return int(value) if value and value.isdigit() else DEFAULT_MAX_BODY
