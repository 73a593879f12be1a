"""Mutation score of the safety-critical modules, from the last `make mutate` (not re-run here).

`make mutate` (``bench/mutate.py``) takes tens of minutes on 2 cores, so ``make bench`` only
reports its last result: the score (detected ÷ all mutants), per module set the counts and the
surviving mutants, and when it finished. Without a result it says how to make one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.mutate import RESULT


def run(out_dir: Path) -> dict[str, Any]:
    if not RESULT.exists():
        return {"mutation_score": None, "note": f"no {RESULT}: run `make mutate` first"}
    last = json.loads(RESULT.read_text())
    return {
        "mutation_score": last["score"],
        "mutants": last["mutants"],
        "survived": last["survived"],
        "finished_at": last["finished_at"],
        "tool": last["tool"],
        "unfinished": last.get("unfinished", []),
        "sets": {
            name: {
                k: s[k]
                for k in (
                    "score",
                    "killed",
                    "survived",
                    "no_tests",
                    "timeout",
                    "total",
                    "survivors",
                )
            }  # fmt: skip
            for name, s in last["sets"].items()
            if "error" not in s
        },
    }
