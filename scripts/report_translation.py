"""Translation quality: chrF and BLEU (sacrebleu) on NTREX dev, zh->en, raw CTranslate2 vs polydesk.

Both sides use the same installed model (scripts/get_zh_en_model.py). "raw" is what a careful
caller of CTranslate2 gets: each line tokenised whole, int8, batched by tokens, target pieces
joined; "polydesk" is the pipeline (sentence splitting, placeholders, repairs), translation
memory off. The bar: polydesk >= raw - 0.5 chrF at every beam.

    python scripts/report_translation.py                  # first 300 lines, beams 1 2 4
    python scripts/report_translation.py --lines 1000 --beams 2 --json

The data is read from ../shared/datasets/ntrex-dev (zh.txt, en.txt, line-aligned), never
copied into the repository; lines beyond 1000 are never used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from polydesk.translate import Translator, packages
from polydesk.translate.engine import batch_tokens, threads
from polydesk.triage import registry

NTREX = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ntrex-dev"
MAX_LINES = 1000


def load(lines: int, source: str = "zh", target: str = "en") -> tuple[list[str], list[str]]:
    if lines > MAX_LINES:
        raise SystemExit(f"--lines: at most {MAX_LINES} (the rest of NTREX is not ours to use)")
    src = (NTREX / f"{source}.txt").read_text("utf-8").splitlines()[:lines]
    ref = (NTREX / f"{target}.txt").read_text("utf-8").splitlines()[:lines]
    return src, ref


def raw_model(package: packages.ModelPackage, inter: int, intra: int) -> tuple[Any, Any]:
    """A plain CTranslate2 translator (int8, CPU) and the source SentencePiece model."""
    ctranslate2 = registry.require("ctranslate2", "ctranslate2", "the raw baseline")
    spm = registry.require("sentencepiece", "sentencepiece", "the raw baseline")
    translator = ctranslate2.Translator(
        str(package.model_dir),
        device="cpu",
        compute_type="int8",
        inter_threads=inter,
        intra_threads=intra,
    )
    return translator, spm.SentencePieceProcessor(model_file=str(package.source_spm))


def raw_translate(
    model: tuple[Any, Any], texts: list[str], beam: int, batch: tuple[int, str]
) -> list[str]:
    """What a careful caller of CTranslate2 gets: each text tokenised whole, one batched call,
    target pieces joined (the baseline)."""
    translator, sp = model
    results = translator.translate_batch(
        [sp.encode(t, out_type=str) for t in texts],
        beam_size=beam,
        max_batch_size=batch[0],
        batch_type=batch[1],
    )
    return ["".join(r.hypotheses[0]).replace("▁", " ").strip() for r in results]


def scores(hyps: list[str], refs: list[str]) -> dict[str, float]:
    import sacrebleu

    return {
        "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2),
        "bleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300, help="First N lines (<= 1000).")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--json", action="store_true", help="One JSON object on stdout.")
    args = parser.parse_args()
    src, ref = load(args.lines)
    package = packages.available().get("zh-en")
    if package is None:
        print("no zh-en model: run scripts/get_zh_en_model.py", file=sys.stderr)
        return 1
    rows: list[dict[str, Any]] = []
    for beam in args.beams:
        model = raw_model(package, *threads())
        raw = scores(raw_translate(model, src, beam, (batch_tokens(beam), "tokens")), ref)
        ours = scores([t.text for t in Translator(beam_size=beam).translate(src, "zh", "en")], ref)
        delta = round(ours["chrf"] - raw["chrf"], 2)
        rows.append({"beam": beam, "raw": raw, "polydesk": ours, "chrf_delta": delta})
        print(f"beam {beam}: raw {raw}  polydesk {ours}  delta chrF {delta:+.2f}", file=sys.stderr)
    report = {"pair": "zh-en", "model": package.key, "lines": len(src), "rows": rows}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_markdown(report))
    return 0 if all(r["chrf_delta"] >= -0.5 for r in rows) else 1


def _markdown(report: dict[str, Any]) -> str:
    out = [
        f"NTREX dev zh->en, first {report['lines']} lines, model {report['model']}",
        "",
        "| beam | raw chrF | raw BLEU | polydesk chrF | polydesk BLEU | chrF delta |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        raw, ours = r["raw"], r["polydesk"]
        out.append(
            f"| {r['beam']} | {raw['chrf']:.1f} | {raw['bleu']:.1f} | {ours['chrf']:.1f} | "
            f"{ours['bleu']:.1f} | {r['chrf_delta']:+.2f} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
