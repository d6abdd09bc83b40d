"""Import hygiene: the core stays free of front-end frameworks; --help stays free of models."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "polydesk"
FRONT_ENDS = ("click", "textual")
MODEL_RUNTIMES = ("onnxruntime", "ctranslate2", "sentencepiece")


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in json.loads(out.stdout.splitlines()[-1])}


def test_core_source_never_imports_a_front_end() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        if path.parent.name in ("cli", "tui"):  # installed mapping of cli/ and tui/, if present
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] in FRONT_ENDS]
    assert offenders == []


def test_importing_polydesk_loads_no_front_end() -> None:
    loaded = _loaded_after("import polydesk, polydesk.languages, polydesk.errors, polydesk.config")
    assert not loaded & {*FRONT_ENDS, *MODEL_RUNTIMES}


def test_help_loads_no_model_runtime() -> None:
    code = (
        "from polydesk.cli import cli\n"
        "try:\n    cli(['--help'], prog_name='polydesk')\nexcept SystemExit:\n    pass"
    )
    loaded = _loaded_after(code)
    assert not loaded & set(MODEL_RUNTIMES), loaded & set(MODEL_RUNTIMES)
    assert "textual" not in loaded and "sqlite_utils" not in loaded


def test_python_dash_m_polydesk() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "polydesk", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("polydesk, version")
