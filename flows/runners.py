"""Task runners from ``cfg.run``: local threads (default), Ray through prefect-ray, or Dask.

On Ray, reconstruct tasks ask for a GPU (when the cluster has one) and the rest for CPUs;
locally the GPU bound is a semaphore (see flows/build.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from storage.config import Config


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


@contextlib.contextmanager
def gpu_options(cfg: Config) -> Iterator[None]:
    """On Ray with `run.ray_gpus`, clip tasks submitted in the block request one GPU each."""
    if cfg.run.task_runner != "ray" or not cfg.run.ray_gpus:
        yield
        return
    from prefect_ray.context import remote_options

    with remote_options(num_gpus=1):
        yield
