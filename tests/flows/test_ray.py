"""`ytocc build` on a Ray cluster gives the dataset of the local runner.

A head node is started for the module with ``ray start --head --block --node-ip-address
127.0.0.1`` (2 CPUs, no GPU, its own temp dir and ports) in its own session, from a folder of its
own, as on a real cluster. Ray 2.60 still registers the node under the machine's address and
listens on every interface, so the cluster asks for a token (``RAY_AUTH_TOKEN``, in the
environment of every process of the test, so nothing is written to ``~/.ray``). Every process of
that session is killed at teardown (``ray stop`` would stop every Ray cluster of the machine). The build connects with ``run.task_runner=ray`` and ``run.ray_address``, reports to a
local Prefect server, and names the tour's truth by a path relative to its own folder, which
the Ray workers (running in the head's folder) only find once made absolute.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.loopback import serve_directory
from tests.support.builds import build_args, dataset_content, overrides, run_ytocc
from tests.support.processes import VENV_BIN, base_env, free_port, prefect_server, ytocc
from tests.support.truth_room import write_room_tour

pytestmark = pytest.mark.slow

PORT_FLAGS = ("--ray-client-server-port", "--dashboard-port", "--dashboard-agent-listen-port",
              "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port",
              "--node-manager-port", "--object-manager-port")  # fmt: skip
DEPLOYMENT = """
import sys, yaml
from prefect.flows import load_flow_from_entrypoint
(dep,) = yaml.safe_load(open("prefect.yaml"))["deployments"]
flow = load_flow_from_entrypoint(dep["entrypoint"])  # as `prefect deploy` and its worker do
out = flow(sources=[sys.argv[1]], data=sys.argv[2], config=sys.argv[3], dataset="ytocc")
print("OK", out["ok"])
"""
TIMELINE = """
import json, sys, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
print(json.dumps(sorted({e.get("cat", "") for e in ray.timeline()})))
"""


def session_pids(sid: int, marker: str) -> set[int]:
    """Live processes in session `sid` or whose command line holds `marker` (zombies left out)."""
    found = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (d / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # state ppid pgrp session ...
            if fields[0] == "Z":
                continue
            if int(fields[3]) == sid or marker in (d / "cmdline").read_text(errors="replace"):
                found.add(int(d.name))
    return found


def stop_session(proc: subprocess.Popen, marker: str) -> set[int]:
    """SIGTERM, then SIGKILL, every process of `proc`'s session; return those still alive."""
    for sig, grace_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        for pid in session_pids(proc.pid, marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while session_pids(proc.pid, marker) and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
        if not session_pids(proc.pid, marker):
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    return session_pids(proc.pid, marker)


@contextlib.contextmanager
def ray_head(env: dict[str, str], log: Path) -> Iterator[str]:
    """A Ray head node on 127.0.0.1 (2 CPUs, no GPU); yields its address HOST:PORT."""
    temp = Path(tempfile.mkdtemp(prefix="ytocc-ray-", dir="/tmp"))  # socket paths stay short
    port = free_port()
    cmd = [str(VENV_BIN / "ray"), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
           "--port", str(port), "--num-cpus", "2", "--num-gpus", "0", "--include-dashboard",
           "false", "--disable-usage-stats", "--temp-dir", str(temp)]  # fmt: skip
    cmd += [a for flag in PORT_FLAGS for a in (flag, str(free_port()))]
    proc = subprocess.Popen(cmd, env=env, cwd=temp, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed ({proc.poll()}):\n{log.read_text()}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        left = stop_session(proc, str(temp))
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"Ray processes survived: {sorted(left)}"


@pytest.fixture(scope="module")
def auth() -> dict[str, str]:
    """Token authentication of the test's cluster (set for the head, the builds and drivers)."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


@pytest.fixture(scope="module")
def env(tmp_path_factory, auth) -> Iterator[tuple[str, str, Path, str]]:
    """A Prefect server, a Ray head, the tour served on 127.0.0.1: (api, address, site, url)."""
    base = tmp_path_factory.mktemp("ray")
    site = base / "site"
    write_room_tour(site, n_frames=30)
    with (
        prefect_server(base / "prefect") as api,
        ray_head(base_env(base / "ray-home") | auth, base / "ray.log") as address,
        serve_directory(site) as url,
    ):
        yield api, address, site, url


def task_runs(api: str, prefix: str) -> list[str]:
    """Names of the task runs on the Prefect server that start with `prefix`."""
    req = urllib.request.Request(f"{api}/task_runs/filter", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as r:
        return [t["name"] for t in json.load(r) if t["name"].startswith(prefix)]


def ytocc_in(
    folder: Path, args: list[str], api: str, home: Path, auth: dict[str, str]
) -> subprocess.CompletedProcess:
    """`ytocc ARGS` run from `folder` (own Prefect home, reporting to `api`, INFO logs)."""
    home.mkdir(parents=True, exist_ok=True)
    env = base_env(home, api) | auth | {"PREFECT_LOGGING_LEVEL": "INFO"}  # the suite's: WARNING
    return subprocess.run(ytocc(*args), env=env, cwd=folder, capture_output=True,
                          text=True, timeout=300, start_new_session=True)  # fmt: skip


def test_build_on_a_ray_cluster_gives_the_local_runners_dataset(env, auth, tmp_path) -> None:
    api, address, site, url = env
    source = f"{url}/tour.mp4"
    local = tmp_path / "local"
    done = run_ytocc(build_args(source, local, overrides(site / "truth")), api, tmp_path / "h1")
    assert done.returncode == 0, done.stderr[-3000:]
    reference = dataset_content(local)
    assert len(reference) == 6  # frames.per_clip of the one clip

    on_ray = tmp_path / "ray"
    relative = overrides(Path(site.name) / "truth")  # resolved in the build's folder
    ray_set = [*relative, "run.task_runner=ray", f"run.ray_address={address}"]
    done = ytocc_in(site.parent, build_args(source, on_ray, ray_set), api, tmp_path / "h2", auth)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert f"Connecting to an existing Ray instance at {address}" in log
    assert "Ray: each clip task requests 0 GPU(s)" in log  # the head has no GPU
    assert dataset_content(on_ray) == reference

    # The cluster itself ran the build's tasks (its task events), and the workers reported
    # their task runs to the build's Prefect server rather than to a temporary one of their own.
    driver = [str(VENV_BIN / "python"), "-c", TIMELINE, address]
    events = subprocess.run(driver, env=os.environ | auth, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert events.returncode == 0, events.stderr[-3000:]
    assert {"task::harvest-video", "task::clip-frames", "task::clip"} <= set(
        json.loads(events.stdout.strip().splitlines()[-1])
    )
    assert "Starting temporary server" not in log
    assert len(task_runs(api, "voxelize-")) == 2  # one per build

    # A GPU request no node can meet fails at once instead of leaving clip tasks pending.
    t0 = time.monotonic()
    # (with its source: a build without sources over a finished folder starts no flow at all)
    gpu = ytocc_in(site.parent, build_args(source, on_ray, [*ray_set, "run.ray_gpus=1"]), api,
                   tmp_path / "h3", auth)  # fmt: skip
    assert gpu.returncode != 0
    assert "run.ray_gpus=1 but no node of the Ray cluster has 1 GPU(s)" in gpu.stdout + gpu.stderr
    assert time.monotonic() - t0 < 120


def test_the_deployment_entrypoint_honours_the_configs_ray_runner(env, auth, tmp_path) -> None:
    """Issue 14, case 8: the prefect.yaml deployment calls `build_flow` with only its parameters;
    the config file's `run:` section alone sends its tasks to the Ray cluster."""
    import yaml

    from storage.config import apply_overrides

    api, address, site, url = env
    source = f"{url}/tour.mp4"
    local = tmp_path / "local"
    done = run_ytocc(build_args(source, local, overrides(site / "truth")), api, tmp_path / "h1")
    assert done.returncode == 0, done.stderr[-3000:]

    conf = apply_overrides({}, overrides(site / "truth"))
    conf["run"] = {"task_runner": "ray", "ray_address": address}
    (tmp_path / "nightly.yaml").write_text(yaml.safe_dump(conf))
    home = tmp_path / "h2"
    home.mkdir()
    env_ = base_env(home, api) | auth | {"PREFECT_LOGGING_LEVEL": "INFO"}
    cmd = [str(VENV_BIN / "python"), "-c", DEPLOYMENT, source, str(tmp_path / "ray"),
           str(tmp_path / "nightly.yaml")]  # fmt: skip
    run = subprocess.run(cmd, env=env_, cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, timeout=300, start_new_session=True)  # fmt: skip
    log = run.stdout + run.stderr
    assert run.returncode == 0 and "OK 1" in run.stdout, log[-4000:]
    assert f"Connecting to an existing Ray instance at {address}" in log
    assert dataset_content(tmp_path / "ray") == dataset_content(local)
