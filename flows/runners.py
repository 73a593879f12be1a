"""Task runners from ``cfg.run``: local threads (default), Ray through prefect-ray, or Dask.

Flows choose theirs inside the flow (:func:`on_runner`): the outer flow, which a deployment,
``ytocc serve`` or the CLI starts with only its parameters, reads the config and runs its
pipeline as a subflow on the runner ``run.task_runner`` names.

On Ray, clip tasks (reconstruct runs inside them) ask for a GPU when a node of the cluster has
one, or for `run.ray_gpus` GPUs; every other task asks for Ray's default of one CPU. Locally
the GPU bound is a semaphore (see flows/build.py). Ray workers run in the folder where
``ray start`` ran, so relative paths in the config are made absolute first
(:func:`absolute_paths`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from prefect.exceptions import MissingContextError
from prefect.logging import get_logger, get_run_logger

from storage.config import Config, Section
from storage.layout import folder_config

PATH_SUFFIXES = ("weights", "_file")  # str fields naming a local path (or a Hub id)
F = TypeVar("F")


def task_runner(cfg: Config) -> Any:
    """The Prefect task runner `cfg.run.task_runner` names."""
    kind = cfg.run.task_runner
    if kind == "ray":
        from prefect_ray import RayTaskRunner

        init = {"num_cpus": cfg.run.max_workers, "include_dashboard": False}
        return RayTaskRunner(
            address=cfg.run.ray_address, init_kwargs=None if cfg.run.ray_address else init
        )
    if kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as e:
            raise RuntimeError(
                "task_runner dask needs prefect-dask: pip install prefect-dask"
            ) from e
        return DaskTaskRunner(cluster_kwargs={"n_workers": cfg.run.max_workers})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=cfg.run.max_workers)


def on_runner(cfg: Config, pipeline: F) -> F:
    """The flow `pipeline` set to run its tasks on :func:`task_runner` of `cfg` (a subflow
    when called inside a flow)."""
    return pipeline.with_options(task_runner=task_runner(cfg))  # type: ignore[attr-defined]


def flow_config(
    config: str | None, overrides: list[str] | None, data: str | None
) -> tuple[Config, str | None]:
    """The config an outer flow runs under (:func:`storage.layout.folder_config`: `config`,
    else the data folder's ``config.yaml``, else the defaults; `overrides` on top) with its
    local paths absolute, and the file it was read from: what the flow hands its pipeline, so
    the pipeline reads the same file. Raises ConfigError, DataRootError."""
    cfg, used = folder_config(config, overrides, data)
    return absolute_paths(cfg), str(used) if used else None


def absolute_paths(cfg: Config) -> Config:
    """`cfg` with relative local paths absolute, as the process that loaded it sees them.

    Covers `truth_dir` and every section's (and backend subsection's) ``*weights`` / ``*_file`` value that names an
    existing relative path here; Hub ids, ``~`` paths (each node's home) and absolute paths
    are kept.
    """
    out = cfg.model_copy(deep=True)
    if out.truth_dir is not None:
        out.truth_dir = Path(out.truth_dir).expanduser().resolve()
    sections = [getattr(out, name) for name in type(out).model_fields]
    while sections:  # sections and their backend subsections
        section = sections.pop()
        if not isinstance(section, Section):
            continue
        for key in type(section).model_fields:
            value = getattr(section, key)
            sections.append(value)
            if (
                key.endswith(PATH_SUFFIXES)
                and isinstance(value, str)
                and value
                and not value.startswith("~")
                and not Path(value).is_absolute()
                and Path(value).exists()
            ):
                setattr(section, key, str(Path(value).resolve()))
    return out


def largest_node_gpus() -> float:
    """The most GPUs one live node of the connected Ray cluster has (0.0 without any)."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return max((float(n.get("Resources", {}).get("GPU", 0.0)) for n in nodes), default=0.0)


def clip_gpus(cfg: Config) -> float:
    """GPUs each clip task requests: 0 off Ray; on Ray `run.ray_gpus`, or 1 if a node has one.

    A request no node can meet would leave the clip tasks pending forever (Ray calls them
    infeasible), so it fails here with what to change.
    """
    if cfg.run.task_runner != "ray":
        return 0.0
    have = largest_node_gpus()
    want = cfg.run.ray_gpus
    if want is None:
        return min(1.0, have)
    if want > have:
        raise RuntimeError(
            f"run.ray_gpus={want:g} but no node of the Ray cluster has {want:g} GPU(s) "
            f"(largest: {have:g}); clip tasks would wait forever. Set run.ray_gpus=0 to run "
            "on CPUs, leave it unset to use GPUs only where the cluster has them, or add GPU "
            "nodes."
        )
    return want


@contextlib.contextmanager
def gpu_options(cfg: Config) -> Iterator[float]:
    """On Ray, clip tasks submitted in the block request :func:`clip_gpus` GPUs; yields it."""
    gpus = clip_gpus(cfg)
    if cfg.run.task_runner == "ray":
        try:
            log = get_run_logger()
        except MissingContextError:
            log = get_logger("ytocc.runners")
        log.info("Ray: each clip task requests %g GPU(s)", gpus)
    if not gpus:
        yield gpus
        return
    from prefect_ray.context import remote_options

    with remote_options(num_gpus=gpus):
        yield gpus
