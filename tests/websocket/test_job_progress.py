"""Job progress reaches the project's websocket live, from the in-process job threads,
over the configured channel layer (in-memory by default, Redis when REDIS_URL is set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from jobs.runners import wait_for_idle
from jobs.services import enqueue
from labeling.models import Pool
from tests.people import build_world
from tests.websocket.test_project_events import connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_it_streams_progress_and_the_result_of_a_job(tmp_path: Path, settings: Any, cifar_folder: Path) -> None:
    settings.POOLS_DIR = tmp_path / "pools"
    settings.EMBEDDING_CACHE_DIR = tmp_path / "cache"
    world = await sync_to_async(build_world)(tmp_path / "images")
    communicator, connected, _ = await connect(world.fish.pk, world.ann)
    assert connected
    pool = await Pool.objects.acreate(project=world.fish, name="cifar", source=str(cifar_folder))
    job = await sync_to_async(enqueue)(world.fish, "embed_pool", {"pool": pool.pk}, world.ann)

    events = []
    while not events or events[-1]["event"] != "job.finished":
        events.append(await communicator.receive_json_from(timeout=120))
    await communicator.disconnect()
    await sync_to_async(wait_for_idle)()

    mine = [e for e in events if e.get("job") == job.pk]
    assert mine[0]["status"] == "queued"
    running = [e for e in mine if e["event"] == "job.progress" and e["status"] == "running" and e["total"]]
    assert running and running[-1]["message"] == "Index built"
    assert "Embedding images" in {e["message"] for e in running}
    embedding = [e["done"] for e in running if e["message"] == "Embedding images"]
    assert embedding == sorted(embedding)  # progress only moves forward
    assert mine[-1] == {**mine[-1], "event": "job.finished", "status": "succeeded"}
    assert mine[-1]["result"]["items"] == 64
