"""Mutation score of the safety-critical modules, from the last `make mutate` (not re-run here).

`make mutate` (``bench/mutate.py``) takes tens of minutes on 2 cores, so ``make bench`` only
reports its last result: the score (detected ÷ all mutants), per module set the counts, the
surviving mutants and, of those, which are explained (``bench/mutation_survivors.json``: each
survivor judged equivalent or harmless, with its reason; grouped in ``tests/README.md``) and
which are not, and when it finished. Without a result of its own (``out/``) it reports the
committed one (``bench/mutation_result.json``), else it says how to make one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.mutate import RESULT, SETS

EXPLAINED = Path(__file__).with_name("mutation_survivors.json")
SNAPSHOT = Path(__file__).with_name("mutation_result.json")
"""The last result committed with the tests it measured (a checkout without ``out/`` has it)."""
COUNTS = ("score", "killed", "survived", "no_tests", "timeout", "total", "wall_s")


def explanations() -> dict[str, str]:
    """Survivor name → why it is left (equivalent or harmless), from ``mutation_survivors.json``."""
    return json.loads(EXPLAINED.read_text())["survivors"]


def run(out_dir: Path) -> dict[str, Any]:
    source = RESULT if RESULT.exists() else SNAPSHOT
    if not source.exists():
        return {"mutation_score": None, "note": f"no {RESULT}: run `make mutate` first"}
    last = json.loads(source.read_text())
    why = explanations()
    sets = {}
    for name, s in last["sets"].items():
        if "error" in s:
            continue
        survivors = s["survivors"]
        sets[name] = {
            **{k: s.get(k) for k in COUNTS},
            "survivors": survivors,
            "explained": [m for m in survivors if m in why],
            "unexplained": [m for m in survivors if m not in why],
        }
    return {
        "mutation_score": last["score"],
        "mutants": last["mutants"],
        "survived": last["survived"],
        "explained": sum(len(s["explained"]) for s in sets.values()),
        "unexplained": sum(len(s["unexplained"]) for s in sets.values()),
        "finished_at": last["finished_at"],
        "result": str(source),
        "tool": last["tool"],
        "unfinished": last.get("unfinished", []),
        "not_run": sorted(set(SETS) - set(last["sets"])),
        "sets": sets,
    }
