"""The workers' stream: a worker on "no more work" hears when work arrives, and nothing else."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from aggregation.collection import CrowdSettings, create_crowd_batch
from config.asgi import application
from jobs.events import cohort_group, project_workers_group, publish_group
from labeling.choices import Role
from labeling.models import Membership
from tests.crowd.world import build_crowd_world
from tests.websocket.test_project_events import session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def work_stream(user: Any) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", await sync_to_async(session_cookie)(user))]
    communicator = WebsocketCommunicator(application, "/ws/work/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def test_it_tells_the_cohort_when_a_crowd_batch_arrives(tmp_path: Path) -> None:
    world = await sync_to_async(build_crowd_world)(tmp_path / "images")
    inside, outside = await work_stream(world.workers[0]), await work_stream(world.zed)
    batch = await sync_to_async(create_crowd_batch)(
        concept=world.concept, items=[i.pk for i in world.work], user=world.ann,
        settings=CrowdSettings(method="mv"), cohort=world.cohort)
    assert await inside.receive_json_from(timeout=5) == {"event": "work.available", "batch": batch.pk}
    assert await outside.receive_nothing(timeout=0.5)  # zed is not in the cohort
    await inside.disconnect()
    await outside.disconnect()


async def test_it_refuses_anonymous_workers(tmp_path: Path) -> None:
    communicator = WebsocketCommunicator(application, "/ws/work/", headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")])
    connected, code = await communicator.connect()
    assert not connected and code == 4401


async def test_a_worker_removed_from_the_project_hears_of_its_work_no_more(tmp_path: Path) -> None:
    world = await sync_to_async(build_crowd_world)(tmp_path / "images")
    stream = await work_stream(world.workers[0])
    groups = [project_workers_group(world.project.pk), cohort_group(world.cohort.pk)]
    for group in groups:
        await sync_to_async(publish_group)(group, "work.available", {"batch": 1})
        assert (await stream.receive_json_from(timeout=2))["event"] == "work.available"

    def remove() -> None:
        Membership.objects.filter(user=world.workers[0], project=world.project, role=Role.WORKER).delete()

    await sync_to_async(remove)()
    await asyncio.sleep(0.05)  # the access.changed message is handled before the next one
    for group in groups:
        await sync_to_async(publish_group)(group, "work.available", {"batch": 1})
    assert await stream.receive_nothing(timeout=0.3)
    await stream.disconnect()
