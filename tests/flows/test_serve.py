"""The nightly deployment: its cron schedule and sources read back from the Prefect API."""

import asyncio
from pathlib import Path

import yaml
from prefect.client.orchestration import get_client

from flows.serve import nightly_deployment


def test_nightly_schedule_reads_back_from_the_api(prefect_harness) -> None:
    dep = nightly_deployment(["http://127.0.0.1:9/tour.mp4"], "15 3 * * *", "/srv/ytocc")
    dep_id = dep.apply()

    async def read():
        async with get_client() as client:
            return await client.read_deployment(dep_id)

    got = asyncio.run(read())
    assert got.name == "nightly"
    assert [s.schedule.cron for s in got.schedules] == ["15 3 * * *"]
    assert got.parameters["sources"] == ["http://127.0.0.1:9/tour.mp4"]
    assert got.parameters["data"] == "/srv/ytocc"


def test_prefect_yaml_declares_the_same_deployment() -> None:
    spec = yaml.safe_load(Path("prefect.yaml").read_text())
    (dep,) = spec["deployments"]
    assert dep["entrypoint"] == "flows.build:build_flow" and dep["name"] == "nightly"
    assert dep["schedules"][0]["cron"] == "0 2 * * *"
