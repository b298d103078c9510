"""The project event stream over the real ASGI app and the configured channel layer
(in-memory by default, Redis when REDIS_URL is set)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from jobs.events import apublish
from labeling.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from tests.people import World, build_world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def world(tmp_path: Any) -> World:  # transaction=True tests need their own world
    return build_world(tmp_path / "images")


def session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(project_id: int, user: Any | None, *, origin: bytes = b"http://testserver",
                  host: bytes = b"testserver") -> tuple[WebsocketCommunicator, bool, Any]:
    headers = [(b"origin", origin), (b"host", host)]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(session_cookie)(user)))
    communicator = WebsocketCommunicator(application, f"/ws/projects/{project_id}/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_it_uses_the_configured_channel_layer(world: World) -> None:
    expected = "RedisChannelLayer" if os.environ.get("REDIS_URL") else "InMemoryChannelLayer"
    assert type(get_channel_layer()).__name__ == expected


async def test_it_streams_project_events_to_an_expert(world: World) -> None:
    communicator, connected, _ = await connect(world.fish.pk, world.ann)
    assert connected
    await apublish(world.fish.pk, "job.progress", {"job": 7, "done": 3, "total": 10})
    assert await communicator.receive_json_from(timeout=5) == {"event": "job.progress", "job": 7, "done": 3,
                                                               "total": 10}
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"event": "pong"}
    await communicator.disconnect()


async def test_it_does_not_cross_projects(world: World) -> None:
    communicator, connected, _ = await connect(world.fish.pk, world.max)
    assert connected
    await apublish(world.birds.pk, "job.progress", {"job": 1})
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_it_refuses_a_worker_an_outsider_and_anonymous(world: World) -> None:
    for user, code in [(world.bob, CLOSE_FORBIDDEN), (world.oli, CLOSE_FORBIDDEN), (None, CLOSE_UNAUTHENTICATED)]:
        communicator, connected, close_code = await connect(world.fish.pk, user)
        assert not connected and close_code == code
        await communicator.disconnect()


async def test_it_refuses_a_foreign_origin(world: World) -> None:
    cookie = await sync_to_async(session_cookie)(world.ann)
    communicator = WebsocketCommunicator(application, f"/ws/projects/{world.fish.pk}/",
                                         headers=[(b"origin", b"http://evil.example"), (b"host", b"testserver"),
                                                  (b"cookie", cookie)])
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


@pytest.mark.parametrize(("origin", "host", "accepted"), [
    (b"http://127.0.0.1:8000", b"127.0.0.1:8000", True),
    (b"http://127.0.0.1:9999", b"127.0.0.1:8000", False),  # another program on the same host
    (b"http://127.0.0.1", b"127.0.0.1:8000", False),
    (b"http://localhost:8000", b"127.0.0.1:8000", False),
    (b"https://testserver", b"testserver", True),  # behind a TLS proxy: no port in Host
    (b"http://testserver:8443", b"testserver", False),
    (b"null", b"testserver", False),
])
async def test_it_checks_the_origin_port_included(world: World, origin: bytes, host: bytes, accepted: bool) -> None:
    communicator, connected, _ = await connect(world.fish.pk, world.ann, origin=origin, host=host)
    assert connected is accepted
    await communicator.disconnect()


async def test_it_accepts_a_trusted_origin(world: World, settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://testserver:8443"]  # e.g. a proxy on another port
    communicator, connected, _ = await connect(world.fish.pk, world.ann, origin=b"https://testserver:8443",
                                               host=b"internal:8000")
    assert connected
    await communicator.disconnect()


@pytest.mark.parametrize("change", ["removed", "made_worker"])
async def test_it_stops_streaming_to_a_member_who_loses_access(world: World, change: str) -> None:
    communicator, connected, _ = await connect(world.fish.pk, world.eve)
    assert connected
    membership = await world.fish.memberships.aget(user=world.eve)
    if change == "removed":
        await membership.adelete()
    else:
        membership.role = "worker"
        await membership.asave()
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
    await apublish(world.fish.pk, "job.progress", {"job": 7})
    assert await communicator.receive_nothing(timeout=0.5)


async def test_it_keeps_streaming_when_another_membership_changes(world: World) -> None:
    communicator, connected, _ = await connect(world.fish.pk, world.ann)
    assert connected
    await (await world.fish.memberships.aget(user=world.eve)).adelete()
    await world.fish.memberships.acreate(user=world.ann, role="manager")  # ann keeps (and gains) access
    await apublish(world.fish.pk, "job.progress", {"job": 7})
    assert (await communicator.receive_json_from(timeout=5))["job"] == 7
    await communicator.disconnect()
