"""`make mutate`: mutation testing (mutmut) of the safety-critical modules on their fast tests.

Each module set (the storage modules, source parsing, the model loaders, one by one) is mutated in its own scratch copy of
the repository under ``out/mutate/<set>/`` (mutmut works in its current folder and writes a
``mutants/`` copy there), with the set's fast tests only. A mutant *survives* when every test
that runs its function still passes: a change to the code that nothing notices. The result,
``out/mutate/result.json``, holds per set the killed / survived / timeout counts, the mutation
score (detected ÷ total, detected = killed + timeout + segfault) and the surviving mutants'
names; ``bench/bench_mutation.py`` copies it into ``make bench``'s JSON. Show one survivor's
diff with ``cd out/mutate/<set> && ../../../.venv/bin/mutmut show NAME``.

Usage: ``python -m bench.mutate [--sets markers stages ...] [--jobs 1] [--timeout-s 1800]``; a
set that runs out of time is recorded as unfinished and the others still run. After writing
tests against a set's survivors, ``--recheck --sets NAME`` re-runs only those survivors (minutes
instead of a full run) while the mutated files are unchanged.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("flows", "tasks", "storage", "models")
RESULT = Path("out/mutate/result.json")

# set → (files mutated, the fast tests that exercise them)
SETS: dict[str, tuple[list[str], list[str]]] = {
    "markers": (["storage/markers.py"], ["tests/storage/test_markers.py", "tests/storage/test_stages.py",
                                          "tests/storage/test_ledger.py"]),
    "stages": (["storage/stages.py", "storage/graph.py"],
               ["tests/storage/test_stages.py", "tests/storage/test_ledger.py", "tests/storage/test_graph.py"]),
    "atomic": (["storage/atomic.py"], ["tests/storage/test_atomic.py", "tests/storage/test_markers.py"]),
    "locks": (["storage/locks.py"], ["tests/storage/test_locks.py"]),
    "ids": (["storage/ids.py"], ["tests/storage/test_ids.py", "tests/storage/test_layout.py"]),
    "layout": (["storage/layout.py"], ["tests/storage/test_layout.py", "tests/storage/test_stages.py",
                                        "tests/storage/test_ledger.py"]),
    "sources": (["tasks/sources.py"], ["tests/tasks/test_sources.py", "tests/tasks/test_download.py",
                                       "tests/tasks/test_shots.py::test_realestate10k_spans_replace_shot_detection"]),
    "places365": (["models/places365.py", "models/weights.py"],
                  ["tests/models/test_places365.py", "tests/models/test_weights.py",
                   "tests/models/test_untrusted_checkpoints.py"]),
    "checkpoint": (["models/occupancy/checkpoint.py", "models/torch_files.py"],
                   ["tests/models/occupancy/test_checkpoint.py",
                    "tests/models/test_torch_files.py",
                    "tests/models/occupancy/test_monoscene.py::test_checkpoints_that_do_not_fit_are_named",
                    "tests/models/occupancy/test_monoscene.py::test_foreign_classes_in_a_checkpoint_are_refused",
                    "tests/models/occupancy/test_monoscene.py::test_a_released_checkpoint_initialises_fine_tuning_all_but_the_ssc_head",
                    "tests/models/occupancy/test_monoscene.py::test_a_released_checkpoint_loads_on_the_device_asked_for",
                    "tests/models/test_untrusted_checkpoints.py"]),
    "dust3r": (["models/dust3r.py"],
               ["tests/models/test_dust3r.py::test_missing_weights_is_a_clear_error",
                "tests/models/test_dust3r.py::test_checkpoint_args_are_parsed_without_eval",
                "tests/models/test_dust3r.py::test_sparse_graph_above_the_complete_limit",
                "tests/models/test_dust3r.py::test_network_size_keeps_the_long_side_in_patches",
                "tests/models/test_dust3r.py::test_each_official_format_loads_the_same_weights_in_eval_mode",
                "tests/models/test_dust3r.py::test_a_checkpoint_saved_on_a_gpu_loads_on_a_cpu_only_machine",
                "tests/models/test_dust3r.py::test_a_folder_without_config_json_is_a_clear_error",
                "tests/models/test_dust3r.py::test_checkpoint_args_as_a_dict_and_a_network_that_does_not_fit",
                "tests/models/test_dust3r.py::test_the_network_is_put_on_the_device_asked_for",
                "tests/models/test_dust3r.py::test_missing_weights_name_what_was_looked_for_and_how_to_fetch_it",
                "tests/models/test_dust3r.py::test_checkpoint_args_naming_another_call_are_refused_with_their_text",
                "tests/models/test_dust3r.py::test_without_any_dust3r_package_the_error_says_what_to_install",
                "tests/models/test_untrusted_checkpoints.py"]),
    "embed": (["models/embed.py"], ["tests/models/test_embed.py", "tests/models/test_backends.py",
                                    "tests/models/test_untrusted_checkpoints.py"]),
}  # fmt: skip

# set → the functions whose mutants it runs (mutmut name globs), where not every function of its
# files: DUSt3R's inference and global alignment (`to_views`, `infer_pairs`, `global_align`,
# `reconstruct_images`, `to_stored_size`) run the network for seconds per test and are judged by
# the reconstruct stage's tests on the synthetic tour, not here; the set is the loader and the
# checkpoint parsing that must refuse what they should.
ONLY: dict[str, list[str]] = {
    "dust3r": [f"models.dust3r.x_{f}*" for f in
               ("backend", "parse_model_args", "load_checkpoint", "load_model", "network_size",
                "pair_graph")],
}  # fmt: skip
DETECTED = ("killed", "timeout", "segfault")


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scratch_digest(file: str) -> str:
    """The digest `file` of this checkout has in a scratch copy (rewritten by undecorate)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / Path(file).name
        copy.write_bytes((REPO / file).read_bytes())
        undecorate(copy)
        return _digest(copy)


def undecorate(path: Path) -> None:
    """Rewrite `path`'s decorated module-level functions as plain ones re-bound after their
    definition (``@a @b def f`` → ``def f`` + ``f = a(b(f))``): the same module, but mutmut 3
    leaves decorated functions alone, and the loaders (``lru_cache``), atomic writes and locks
    (``contextmanager``) are decorated. Only the scratch copy is rewritten."""
    import libcst as cst

    body: list[cst.CSTNode] = []
    for stmt in cst.parse_module(path.read_text()).body:
        if not (isinstance(stmt, cst.FunctionDef) and stmt.decorators):
            body.append(stmt)
            continue
        bound: cst.BaseExpression = cst.Name(stmt.name.value)
        for deco in reversed(stmt.decorators):
            bound = cst.Call(func=deco.decorator, args=[cst.Arg(bound)])
        rebind = cst.Assign(targets=[cst.AssignTarget(cst.Name(stmt.name.value))], value=bound)
        body += [stmt.with_changes(decorators=[]), cst.SimpleStatementLine(body=[rebind])]
    module = cst.parse_module(path.read_text())
    path.write_text(module.with_changes(body=body).code)


def write_config(work: Path, files: list[str], tests: list[str]) -> None:
    """The scratch copy's pytest and mutmut settings: mutate `files`, test with `tests`."""
    (work / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        'addopts = "-p no:cacheprovider"\n'
        'markers = ["slow: end-to-end tests"]\n'
        'filterwarnings = ["ignore::DeprecationWarning"]\n\n'
        "[tool.mutmut]\n"
        f"source_paths = {_toml_list([p + '/' for p in PACKAGES])}\n"
        f"only_mutate = {_toml_list(files)}\n"
        'also_copy = ["README.md"]\n'
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
        'pytest_add_cli_args = ["-q", "-x", "-m", "not slow"]\n'
        # Each mutant is forked from a process that has not run any test (mutmut's fork server).
        # With the default ("fork"), mutmut forks each mutant from its main process after
        # running the tests there; a test module that sets torch's threads to 2 (e.g.
        # test_monoscene.py) leaves an OpenMP pool behind, and every forked child then waits
        # forever on threads it does not have (a "timeout" per mutant: what ended the
        # checkpoint set's last re-check, not load).
        'process_isolation = "forkserver"\n'
        # mutmut ends a mutant after (its tests' measured time + constant) × multiplier wall
        # seconds ("timeout"); with its defaults (1 s × 15) a 0.1 s test gets 16 s, which
        # pytest's own start in the forked child can overrun on the loaded shared CPU. A 20 s
        # floor × 5 (100 s, + 5× the tests' time) absorbs a several-fold slowdown of that start;
        # a mutant that loops still ends.
        "timeout_constant = 20.0\n"
        "timeout_multiplier = 5.0\n"
    )


def prepare(work: Path, files: list[str], tests: list[str]) -> None:
    """A fresh scratch copy of the packages and tests with a mutmut config for one set."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "results")
    for pkg in (*PACKAGES, "tests"):
        shutil.copytree(REPO / pkg, work / pkg, ignore=ignore)
    shutil.copy2(REPO / "README.md", work / "README.md")  # tests that read the README
    for f in files:
        undecorate(work / f)
    write_config(work, files, tests)


def mutmut(work: Path, *args: str, timeout_s: float | None = None) -> subprocess.CompletedProcess:
    """Run ``mutmut ARGS`` in `work` with the scratch copy (not this checkout) on the path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(work)}
    exe = Path(sys.executable).parent / "mutmut"
    return subprocess.run([str(exe), *args], cwd=work, env=env, capture_output=True, text=True,
                          timeout=timeout_s)  # fmt: skip


def statuses(work: Path, only: list[str] | None) -> dict[str, str]:
    """Every mutant of the set's last run and its status (``killed``, ``survived``, …)."""
    listing = mutmut(work, "results", "--all", "true", timeout_s=120).stdout
    found = dict(re.findall(r"^\s*(\S+): (.+?)\s*$", listing, re.M))
    if only is None:
        return found
    return {m: st for m, st in found.items() if any(fnmatch.fnmatch(m, g) for g in only)}


def run_set(name: str, work: Path, jobs: int, timeout_s: float) -> dict:
    """Mutate one set; its counts, score and surviving mutants."""
    files, tests = SETS[name]
    only = ONLY.get(name)
    prepare(work, files, tests)
    t0 = time.perf_counter()
    try:
        done = mutmut(work, "run", "--max-children", str(jobs), *(only or []), timeout_s=timeout_s)
    except subprocess.TimeoutExpired:
        return {"files": files, "tests": tests, "error": f"timed out after {timeout_s:.0f} s"}
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise RuntimeError(f"mutmut run of {name} failed ({done.returncode}):\n{tail}")
    status = statuses(work, only)
    count = Counter(status.values())
    detected = sum(count[k] for k in DETECTED)
    return {
        "detected": detected,
        "files": files,
        "functions": only,
        "tests": tests,
        "killed": count["killed"],
        "survived": count["survived"],
        "no_tests": count["no tests"],
        "timeout": count["timeout"],
        "other": {k: n for k, n in count.items() if k not in (*DETECTED, "survived", "no tests")},
        "total": len(status),
        "score": round(detected / max(len(status), 1), 4),
        "wall_s": round(time.perf_counter() - t0, 1),
        "survivors": sorted(m for m, st in status.items() if st in ("survived", "no tests")),
    }


def refresh(work: Path, files: list[str], repo: Path = REPO) -> None:
    """Bring the scratch copy `work` up to `repo`: its tests anew, and every module of the
    packages but the mutated `files` (mutmut names their mutants by position in them)."""
    mutated = {(repo / f).resolve() for f in files}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in ("__pycache__", "results") or n.endswith(".pyc")
                or (Path(folder) / n).resolve() in mutated}  # fmt: skip

    shutil.rmtree(work / "tests", ignore_errors=True)
    for pkg in (*PACKAGES, "tests"):
        if (repo / pkg).is_dir():
            shutil.copytree(repo / pkg, work / pkg, ignore=ignore, dirs_exist_ok=True)


def recheck_set(name: str, work: Path, last: dict, timeout_s: float) -> dict:
    """Re-run only `last`'s survivors of one set against the current tests (after tests were
    written against them): valid while the mutated files are unchanged since that run, since
    mutmut names mutants by position. The other mutants keep their recorded result. The tests
    and the packages' other modules are this checkout's (a test may rely on a fix made since)."""
    files, tests = SETS[name]
    if any(_digest(work / f) != _scratch_digest(f) for f in files):
        raise RuntimeError(f"{name}: {', '.join(files)} changed since its run: run it in full")
    if not last.get("survivors"):
        return last
    refresh(work, files)
    write_config(work, files, tests)
    (work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)  # map the new tests too
    t0 = time.perf_counter()
    done = mutmut(work, "run", "--max-children", "1", *last["survivors"], timeout_s=timeout_s)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise RuntimeError(
            f"mutmut re-run of {name}'s survivors failed ({done.returncode}):\n{tail}"
        )
    status = statuses(work, ONLY.get(name))
    count = Counter(status.values())
    detected = sum(count[k] for k in DETECTED)
    return {
        **last,
        "detected": detected,
        "killed": count["killed"],
        "survived": count["survived"],
        "no_tests": count["no tests"],
        "timeout": count["timeout"],
        "total": len(status),
        "score": round(detected / max(len(status), 1), 4),
        "recheck_wall_s": round(time.perf_counter() - t0, 1),
        "rechecked_survivors": len(last["survivors"]),
        "survivors": sorted(m for m, st in status.items() if st in ("survived", "no tests")),
    }


def write_result(out: Path, sets: dict[str, dict]) -> None:
    """The overall score over the finished sets, and every set's counts, to `out`."""
    done = [s for s in sets.values() if "error" not in s]
    total = sum(s["total"] for s in done)
    detected = sum(s["detected"] for s in done)
    result = {
        "tool": f"mutmut {version('mutmut')}",
        "score": round(detected / max(total, 1), 4),
        "mutants": total,
        "survived": total - detected,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "unfinished": sorted(n for n, s in sets.items() if "error" in s),
        "sets": sets,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    ap.add_argument("--jobs", type=int, default=1, help="mutants tested at once (CPU is shared)")
    ap.add_argument("--timeout-s", type=float, default=1800, help="per set")
    ap.add_argument("--out", type=Path, default=RESULT)
    ap.add_argument("--recheck", action="store_true",
                    help="re-run only the last run's survivors of --sets against the current tests")  # fmt: skip
    args = ap.parse_args(argv)
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    sets = dict(old.get("sets", {}))
    for name in args.sets:
        print(f"== mutate {name}", flush=True)
        if args.recheck:
            sets[name] = recheck_set(name, args.out.parent / name, sets[name], args.timeout_s)
        else:
            sets[name] = run_set(name, args.out.parent / name, args.jobs, args.timeout_s)
        s = sets[name]
        if "error" in s:
            print(f"   {s['error']}", flush=True)
        else:
            print(f"   {s['killed']} killed, {s['survived']} survived, {s['no_tests']} without "
                  f"tests, {s['timeout']} timeouts of {s['total']}: score {s['score']:.3f} "
                  f"({s['wall_s']} s)", flush=True)  # fmt: skip
            for m in s["survivors"]:
                print(f"   survived: {m}")
        write_result(args.out, sets)  # after every set: an interrupted run keeps what it finished
    result = json.loads(args.out.read_text())
    print(f"mutation score {result['score']:.3f} ({result['mutants']} mutants) → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
