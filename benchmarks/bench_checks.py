"""The caption checks on planted errors (issue 11).

Targets: at least 95% of the planted errors caught overall and at least 90% of each
kind, with at most 5% of the clean captions flagged. The set is
`captions/devdata/planted_errors.py` (seeded, so every run checks the same
captions): an error counts as caught when its kind's check flags it at the planted
words (`catches`); a clean caption counts as flagged when any check finds anything.
Also times `check_caption` (median of 5 passes over the whole set).

    python benchmarks/bench_checks.py [--per-kind 60] [--seed 11]
"""

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from captions.devdata.planted_errors import (  # noqa: E402
    KINDS,
    SOURCES,
    PlantedCaption,
    catches,
    planted_error_set,
)
from captions.generation.checks import check_caption  # noqa: E402

RECALL_OVERALL, RECALL_EACH, CLEAN_FLAGGED = 0.95, 0.90, 0.05


def run(seed: int = 11, per_kind: int = 60) -> dict:
    """Recall per kind, the clean captions flagged (and by which checks), and the
    time `check_caption` takes per caption."""
    items = planted_error_set(seed=seed, per_kind=per_kind)
    findings = [check_caption(item.text, item.landcover) for item in items]
    kinds = {kind: _kind_result(kind, items, findings) for kind in KINDS}
    planted = sum(result["planted"] for result in kinds.values())
    caught = sum(result["caught"] for result in kinds.values())
    clean = _clean_result(items, findings)
    return {
        "seed": seed,
        "kinds": kinds,
        "recall": caught / planted,
        "planted": planted,
        "clean": clean,
        "check_us": _median_check_seconds(items) * 1e6,
        "targets_met": caught / planted >= RECALL_OVERALL
        and all(result["recall"] >= RECALL_EACH for result in kinds.values())
        and clean["flagged_share"] <= CLEAN_FLAGGED,
    }


def _kind_result(
    kind: str, items: list[PlantedCaption], findings: list[list[dict]]
) -> dict:
    pairs = [
        (item, found)
        for item, found in zip(items, findings, strict=True)
        if item.kind == kind
    ]
    caught = sum(catches(item, found) for item, found in pairs)
    return {
        "planted": len(pairs),
        "caught": caught,
        "recall": caught / len(pairs),
        "flagged_at_all": sum(bool(found) for _, found in pairs),
        "by_source": dict(Counter(item.source for item, _ in pairs)),
        "missed": [
            _planted_sentence(item) for item, found in pairs if not catches(item, found)
        ],
    }


def _planted_sentence(item: PlantedCaption) -> str:
    """The sentence (or sentences) of a caption that hold its planted words."""
    assert item.planted is not None
    start, end = item.planted
    text = item.text
    first = max(text.rfind(mark, 0, start) for mark in ".!?") + 1
    last = min(
        (i for i in (text.find(m, end - 1) for m in ".!?") if i >= 0), default=-1
    )
    return text[first : last + 1 if last >= 0 else len(text)].strip()


def _clean_result(items: list[PlantedCaption], findings: list[list[dict]]) -> dict:
    pairs = [
        (item, found)
        for item, found in zip(items, findings, strict=True)
        if item.kind == "clean"
    ]
    flagged = [(item, found) for item, found in pairs if found]
    return {
        "captions": len(pairs),
        "by_source": {
            source: sum(item.source == source for item, _ in pairs)
            for source in SOURCES
        },
        "flagged": len(flagged),
        "flagged_share": len(flagged) / len(pairs),
        "checks": dict(
            Counter(finding["check"] for _, found in flagged for finding in found)
        ),
        "flagged_texts": [item.text for item, _ in flagged],
    }


def _median_check_seconds(items: list[PlantedCaption], repeat: int = 5) -> float:
    passes = []
    for _ in range(repeat):
        started = time.perf_counter()
        for item in items:
            check_caption(item.text, item.landcover)
        passes.append((time.perf_counter() - started) / len(items))
    return statistics.median(passes)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--per-kind", type=int, default=60)
    args = parser.parse_args(argv)
    results = run(seed=args.seed, per_kind=args.per_kind)
    for kind, result in results["kinds"].items():
        print(
            f"{kind:18s} {result['caught']:4d} / {result['planted']:4d} "
            f"{result['recall']:6.1%}"
        )
        for text in result["missed"]:
            print(f"    missed: {text}")
    clean = results["clean"]
    print(
        f"overall recall {results['recall']:.1%} of {results['planted']}; clean "
        f"flagged {clean['flagged']} / {clean['captions']} {clean['checks']}; "
        f"check_caption {results['check_us']:.0f} µs a caption; targets "
        f"{'met' if results['targets_met'] else 'MISSED'}"
    )
    for text in clean["flagged_texts"]:
        print(f"    clean, flagged: {text}")
    return results


if __name__ == "__main__":
    main()
