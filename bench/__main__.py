"""Run every benchmark module and write one JSON file each under --out."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path

import bench
from models.heap import keep_freed_memory


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    ap.add_argument("--only", nargs="*", help="Run only these modules (e.g. bench_harvest).")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    keep_freed_memory()  # measure under the pipeline's allocator settings (flows/__init__.py)
    names = sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")
    )
    failures = 0
    for name in names:
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            result = importlib.import_module(f"bench.{name}").run(args.out)
        except Exception:
            traceback.print_exc()
            failures += 1
            continue
        result = {"benchmark": name, "wall_s": round(time.perf_counter() - t0, 2), **result}
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2), f"\n→ {path}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
