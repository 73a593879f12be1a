"""Task runners from the config: GPU requests on Ray, absolute paths for workers elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_ray import RayTaskRunner
from prefect_ray.context import RemoteOptionsContext

from flows import runners
from flows.runners import absolute_paths, clip_gpus, gpu_options, task_runner
from storage.config import load_config


def ray_cfg(*extra: str):
    return load_config(None, ["run.task_runner=ray", *extra])


def test_task_runner_kinds() -> None:
    assert isinstance(task_runner(load_config()), ThreadPoolTaskRunner)
    remote = task_runner(ray_cfg("run.ray_address=10.0.0.5:6379"))
    assert isinstance(remote, RayTaskRunner)
    assert remote.address == "10.0.0.5:6379"
    assert "num_cpus" not in remote.init_kwargs  # an existing cluster has its own resources
    own = task_runner(ray_cfg("run.max_workers=3"))
    assert own.address is None and own.init_kwargs["num_cpus"] == 3


@pytest.mark.parametrize(
    ("setting", "node_gpus", "want"),
    [
        ([], 0.0, 0.0),  # unset on a CPU cluster: no GPU asked for (it would never be granted)
        ([], 4.0, 1.0),  # unset on a GPU cluster: one per clip task
        (["run.ray_gpus=0"], 4.0, 0.0),
        (["run.ray_gpus=0.5"], 1.0, 0.5),
        (["run.ray_gpus=true"], 2.0, 1.0),  # the old boolean setting still reads as one GPU
    ],
)
def test_clip_gpus_on_ray(monkeypatch, setting, node_gpus, want) -> None:
    monkeypatch.setattr(runners, "largest_node_gpus", lambda: node_gpus)
    assert clip_gpus(ray_cfg(*setting)) == want


def test_a_gpu_request_no_node_meets_fails_instead_of_pending_forever(monkeypatch) -> None:
    monkeypatch.setattr(runners, "largest_node_gpus", lambda: 1.0)
    with pytest.raises(RuntimeError, match=r"run.ray_gpus=2 but no node .* has 2 GPU\(s\)"):
        clip_gpus(ray_cfg("run.ray_gpus=2"))


def test_local_runner_asks_ray_nothing(monkeypatch) -> None:
    def no_ray() -> float:
        raise AssertionError("Ray queried off Ray")

    monkeypatch.setattr(runners, "largest_node_gpus", no_ray)
    assert clip_gpus(load_config(None, ["run.ray_gpus=1"])) == 0.0


def test_gpu_options_sets_the_remote_options_of_the_block(monkeypatch) -> None:
    monkeypatch.setattr(runners, "largest_node_gpus", lambda: 1.0)
    with gpu_options(ray_cfg()) as gpus:
        assert gpus == 1.0
        assert RemoteOptionsContext.get().current_remote_options == {"num_gpus": 1.0}
    assert RemoteOptionsContext.get().current_remote_options == {}
    monkeypatch.setattr(runners, "largest_node_gpus", lambda: 0.0)
    with gpu_options(ray_cfg()) as gpus:
        assert gpus == 0.0
        assert RemoteOptionsContext.get().current_remote_options == {}


def test_largest_node_gpus_counts_live_nodes_only(monkeypatch) -> None:
    import ray

    nodes = [
        {"Alive": True, "Resources": {"CPU": 8.0}},
        {"Alive": True, "Resources": {"CPU": 8.0, "GPU": 2.0}},
        {"Alive": False, "Resources": {"CPU": 8.0, "GPU": 8.0}},
    ]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    assert runners.largest_node_gpus() == 2.0
    monkeypatch.setattr(ray, "nodes", lambda: nodes[:1])
    assert runners.largest_node_gpus() == 0.0


def test_absolute_paths_for_workers_in_another_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "truth").mkdir()
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "dust3r.pth").write_bytes(b"")
    (tmp_path / "cookies.txt").write_text("")
    cfg = load_config(
        None,
        [
            "truth_dir=truth",
            "reconstruct.dust3r.weights=ckpt/dust3r.pth",
            "download.cookies_file=cookies.txt",
            "segment.mask2former_ade.weights=facebook/mask2former-swin-tiny-ade-semantic",  # a Hub id
        ],
    )
    out = absolute_paths(cfg)
    assert out.truth_dir == tmp_path / "truth"
    assert out.reconstruct.dust3r.weights == str(tmp_path / "ckpt" / "dust3r.pth")
    assert out.download.cookies_file == str(tmp_path / "cookies.txt")
    assert out.segment.mask2former_ade.weights == "facebook/mask2former-swin-tiny-ade-semantic"
    assert out.indoor.places365.weights == "~/.cache/ytocc/places365"  # each node's own home
    assert out.train.embed_weights == "facebook/dinov2-small"
    assert cfg.truth_dir == Path("truth")  # the loaded config is left as it was
    assert absolute_paths(out) == out


@pytest.mark.parametrize("which", ["build", "rerun"])
def test_case8_the_flow_itself_runs_its_tasks_on_the_configured_runner(
    prefect_harness, tmp_path, monkeypatch, which
) -> None:
    """Issue 14, case 8: started with only its parameters (as the prefect.yaml deployment and
    `ytocc serve` start it), the flow reads `run.*` from its config file and runs its tasks
    there; before, only `run_build` outside the flow picked the runner."""
    from prefect.context import FlowRunContext

    import flows.build
    import flows.rerun

    seen = {}

    def capture(root, cfg, clips, dataset, *ended):
        seen["runner"] = FlowRunContext.get().task_runner
        return {"clips": [], "ok": 0, "dataset": None, "report": None}

    conf = tmp_path / "ytocc.yaml"
    conf.write_text("run:\n  max_workers: 3\n")
    data = str(tmp_path / "data")
    if which == "build":
        monkeypatch.setattr(flows.build, "build", lambda r, c, s, d: capture(r, c, [], d))
        flows.build.build_flow([], data, str(conf), [], None)
    else:
        monkeypatch.setattr(flows.rerun, "build_tail", capture)
        flows.rerun.rerun_flow(data, str(conf), [], None, None, None, None)
    assert isinstance(seen["runner"], ThreadPoolTaskRunner)
    assert seen["runner"]._max_workers == 3  # the default is 2
