"""Check every model in models/manifest.json against its recorded sha256 (run by scripts/setup).

Committed artefacts (heads, the language-id stacker, calibration data) must match exactly.
Built artefacts (the encoder, entries with a "build" command) are compared with the sha256
recorded when the shipped heads were trained on them: a different build is reported, since the
heads were fitted on the recorded one, but it is not an error.
"""

from __future__ import annotations

import sys

from polydesk.errors import PolydeskError
from polydesk.triage import registry


def main() -> int:
    manifest = registry.Manifest.load(registry.shipped_dir())
    failed = 0
    for name, entry in manifest.models.items():
        try:
            registry.verify_files(name, entry, manifest.root)
        except PolydeskError as exc:
            built = "build" in entry
            failed += 0 if built else 1
            print(f"model check: {'note' if built else 'error'}: {exc}", file=sys.stderr)
    print(f"model check: {len(manifest.models)} models, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
