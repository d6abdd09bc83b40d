"""Every command through CliRunner: output formats, exit codes, errors without tracebacks."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import click
import pytest

from polydesk.cli import cli
from polydesk.errors import ExitCode

from .conftest import Invoker


def all_commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*path, name))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*path, name)))
    return found


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_every_command_has_help(invoke: Invoker, path: tuple[str, ...]) -> None:
    result = invoke(*path, "--help")
    command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help, f"{' '.join(path)} has no help text"
    assert "Usage:" in result.output


def test_exit_codes_are_documented(invoke: Invoker) -> None:
    text = invoke("--help").output
    for code in ExitCode:
        assert f"{code.value}  {code.name.lower().replace('_', ' ')}" in text


def seed(invoke: Invoker) -> None:
    invoke("init")
    invoke("agents", "add", "ana", "--lang", "sv", "--lang", "en", "--refund-limit", "250.00")
    rows = [
        {
            "id": "S-1",
            "body": "Hej, var är mitt paket?",
            "language": "sv",
            "created_at": "2026-11-01T09:00:00Z",
            "subject": "Paket",
        },
        {
            "id": "S-2",
            "body": "Jag har blivit dragen två gånger!",
            "language": "sv",
            "created_at": "2026-11-03T09:00:00Z",
        },
        {
            "id": "E-1",
            "body": "Where is my refund?",
            "language": "en",
            "created_at": "2026-11-02T09:00:00Z",
        },
    ]
    invoke("import", "tickets", "-", input="\n".join(json.dumps(r) for r in rows))


def test_tickets_list_formats_and_filters(invoke: Invoker) -> None:
    seed(invoke)
    as_json = json.loads(invoke("tickets", "list", "--lang", "sv", "--json").stdout)
    assert [t["external_id"] for t in as_json] == ["S-1", "S-2"]
    assert all(t["language"] == "sv" for t in as_json)
    nl = invoke("tickets", "list", "--nl", "--since", "2026-11-02").stdout.splitlines()
    assert [json.loads(x)["external_id"] for x in nl] == ["S-2", "E-1"]
    rows = list(csv.DictReader(io.StringIO(invoke("tickets", "list", "--csv").stdout)))
    assert {r["external_id"] for r in rows} == {"S-1", "S-2", "E-1"}
    table = invoke("tickets", "list").stdout
    assert "Paket" in table
    assert invoke("tickets", "list", "--status", "closed", "--json").stdout.strip() == "[]"


def test_tickets_list_rejects_bad_filters(invoke: Invoker) -> None:
    seed(invoke)
    result = invoke("tickets", "list", "--lang", "xx", code=ExitCode.ERROR)
    assert "--lang: unknown language code 'xx'" in result.stderr
    result = invoke("tickets", "list", "--status", "lost", code=ExitCode.ERROR)
    assert "--status" in result.stderr
    invoke("tickets", "list", "--json", "--csv", code=ExitCode.USAGE)


def test_tickets_show(invoke: Invoker) -> None:
    seed(invoke)
    text = invoke("tickets", "show", "S-1").stdout
    assert "Hej, var är mitt paket?" in text
    doc = json.loads(invoke("tickets", "show", "1", "--json").stdout)
    assert doc["id"] == "S-1" and doc["messages"][0]["body"] == "Hej, var är mitt paket?"
    assert "no ticket 'nope'" in invoke("tickets", "show", "nope", code=4).stderr


def test_show_strips_terminal_escapes(invoke: Invoker) -> None:
    invoke("init")
    evil = {"id": "EVIL", "body": "hi \x1b[2J\x1b]0;pwned\x07there\x07"}
    invoke("import", "tickets", "-", input=json.dumps(evil))
    out = invoke("tickets", "show", "EVIL").stdout
    assert "\x1b" not in out and "\x07" not in out and "hi there" in out


def test_export_round_trip_through_cli(invoke: Invoker, tmp_path: Path) -> None:
    seed(invoke)
    out = tmp_path / "all.jsonl"
    invoke("export", str(out))
    piped = invoke("export", "--nl").stdout
    assert out.read_text() == piped
    other = tmp_path / "other.db"
    invoke("--db", str(other), "import", "tickets", str(out))
    assert invoke("--db", str(other), "export", "--nl").stdout == piped


def test_agents_add_list_set(invoke: Invoker) -> None:
    seed(invoke)
    listed = json.loads(invoke("agents", "list", "--json").stdout)
    assert listed == [
        {
            "name": "ana",
            "role": "agent",
            "languages": ["sv", "en"],
            "refund_limit": "250.00 EUR",
            "ui_language": "en",
            "active": True,
        }
    ]
    dry = invoke("agents", "set", "ana", "--refund-limit", "500", "--dry-run")
    assert "would change ana" in dry.stderr
    assert json.loads(invoke("agents", "list", "--json").stdout)[0]["refund_limit"] == "250.00 EUR"
    changed = json.loads(invoke("agents", "set", "ana", "--refund-limit", "500", "--json").stdout)
    assert changed[0]["refund_limit"] == "500.00 EUR"
    invoke("agents", "set", "ana", "--inactive")
    assert json.loads(invoke("agents", "list", "--json").stdout) == []
    assert len(json.loads(invoke("agents", "list", "--all", "--json").stdout)) == 1
    assert "already exists" in invoke("agents", "add", "ana", "--lang", "sv", code=5).stderr
    assert "unknown language" in invoke("agents", "add", "bo", "--lang", "klingon", code=1).stderr
    assert (
        "decimals"
        in invoke("agents", "add", "bo", "--lang", "sv", "--refund-limit", "1.234", code=1).stderr
    )
    assert "no agent named 'zed'" in invoke("agents", "set", "zed", "--inactive", code=4).stderr


def test_events_list_and_verify(invoke: Invoker, db_path: Path) -> None:
    seed(invoke)
    events = json.loads(invoke("events", "list", "--json").stdout)
    assert [e["kind"] for e in events] == ["agent_added", "import", "import", "import"]
    assert (
        json.loads(invoke("events", "list", "--ticket", "1", "--json").stdout)[0]["entity_id"] == 1
    )
    assert json.loads(invoke("events", "verify", "--json").stdout)["ok"] is True
    conn = sqlite3.connect(db_path)
    conn.executescript("DROP TRIGGER events_no_update; UPDATE events SET actor='x' WHERE id=2;")
    conn.close()
    report = json.loads(invoke("events", "verify", "--json", code=ExitCode.INTEGRITY).stdout)
    assert report["ok"] is False and 2 in [p["event"] for p in report["problems"]]
    assert "problems" in invoke("events", "verify", code=ExitCode.INTEGRITY).stderr


def test_db_migrate_list_is_read_only(invoke: Invoker, db_path: Path) -> None:
    rows = json.loads(invoke("db", "migrate", "--list", "--json").stdout)
    assert rows == [{"migration": "0001_initial", "applied_at": None}]
    assert not db_path.exists()
    invoke("db", "migrate")
    rows = json.loads(invoke("db", "migrate", "--list", "--json").stdout)
    assert rows[0]["applied_at"] is not None
    assert invoke("db", "path").stdout.strip() == str(db_path)


def test_commands_need_a_database(invoke: Invoker) -> None:
    result = invoke("tickets", "list", code=ExitCode.NOT_FOUND)
    assert "polydesk init" in result.stderr


def test_unreadable_database_is_an_error_not_a_traceback(invoke: Invoker, db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database" * 100)
    result = invoke("tickets", "list", code=ExitCode.ERROR)
    assert "Error:" in result.stderr and "Traceback" not in result.output


def test_import_errors(invoke: Invoker, tmp_path: Path) -> None:
    invoke("init")
    missing = invoke("import", "tickets", str(tmp_path / "nope.jsonl"), code=ExitCode.USAGE)
    assert "No such file" in missing.stderr
    bad_csv = tmp_path / "x.csv"
    bad_csv.write_text("id,colour\n1,red\n")
    assert "header" in invoke("import", "tickets", str(bad_csv), code=ExitCode.ERROR).stderr
    dry = invoke("import", "tickets", "-", "--dry-run", input='{"id":"D","body":"hej"}')
    assert "would add 1" in dry.stderr
    assert json.loads(invoke("tickets", "list", "--json").stdout) == []


def test_completion_script(invoke: Invoker) -> None:
    script = invoke("completion", "bash").stdout
    assert "_POLYDESK_COMPLETE" in script and "complete" in script


def test_shell_completion_completes_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    env = {"_POLYDESK_COMPLETE": "bash_complete", "COMP_WORDS": "polydesk tic", "COMP_CWORD": "1"}
    result = CliRunner().invoke(cli, [], env=env, prog_name="polydesk")
    assert "tickets" in result.output
