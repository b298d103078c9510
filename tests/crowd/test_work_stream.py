"""The workers' stream: a worker on "no more work" hears when work arrives, and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from aggregation.collection import CrowdSettings, create_crowd_batch
from config.asgi import application
from tests.crowd.world import build_crowd_world
from tests.websocket.test_project_events import session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def work_stream(user: Any) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver"), (b"cookie", await sync_to_async(session_cookie)(user))]
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
    communicator = WebsocketCommunicator(application, "/ws/work/", headers=[(b"origin", b"http://testserver")])
    connected, code = await communicator.connect()
    assert not connected and code == 4401
