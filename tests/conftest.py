"""Every test gets its own polydesk home and database; nothing touches the user's files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from polydesk.cli import cli
from polydesk.store import Store

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("POLYDESK_HOME", str(home))
    monkeypatch.setenv("POLYDESK_DB", str(tmp_path / "desk.db"))
    monkeypatch.delenv("POLYDESK_MAX_BODY", raising=False)
    return home


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "desk.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path) as opened:
        yield opened


class Invoker:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None, code: int = 0) -> Result:
        result = self.runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
        return result


@pytest.fixture
def invoke() -> Invoker:
    return Invoker()
