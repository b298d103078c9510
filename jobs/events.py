"""The project event bus: live events for a project, sent over the channel layer to its
websocket group (job progress from here; batches, metrics and crowd events from the apps)."""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

# The event loop of the server process, remembered when a websocket connects. The
# in-memory layer's queues belong to that loop and are not thread-safe: a job thread that
# put a message in them directly would not wake the loop, and the event would sit unseen.
_server_loop: asyncio.AbstractEventLoop | None = None


def remember_server_loop() -> None:
    global _server_loop
    _server_loop = asyncio.get_running_loop()


def project_group(project_id: int) -> str:
    return f"project-{project_id}"


def user_group(user_id: int) -> str:
    """Every live connection of one person, told when their access changes."""
    return f"user-{user_id}"


def _message(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": "project.event", "event": event, "payload": payload}


def cohort_group(cohort_id: int) -> str:
    """Workers of a cohort, on their work stream."""
    return f"cohort-{cohort_id}"


def project_workers_group(project_id: int) -> str:
    """Every worker of a project, on their work stream (batches sent to no cohort)."""
    return f"project-{project_id}-workers"


def publish_group(group: str, event: str, payload: dict[str, Any]) -> None:
    """Send ``{"event": event, **payload}`` to a channel-layer group (sync callers)."""
    send_to_group(group, _message(event, payload))


def send_to_group(group: str, message: dict[str, Any]) -> None:
    """Send a channel-layer ``message`` to ``group`` from sync code (a request, a job thread)."""
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _server_loop
    if isinstance(layer, InMemoryChannelLayer) and loop is not None and loop.is_running() and not loop.is_closed():
        # Hand the send to the loop that owns the queues (FIFO, so events keep their order).
        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
        return
    async_to_sync(layer.group_send)(group, message)


def publish(project_id: int, event: str, payload: dict[str, Any]) -> None:
    """Send ``{"event": event, **payload}`` to everyone watching the project (sync callers)."""
    send_to_group(project_group(project_id), _message(event, payload))


def access_changed(user_id: int, project_id: int) -> None:
    """Tell the person's open streams to check again whether they may still watch ``project_id``."""
    send_to_group(user_group(user_id), {"type": "access.changed", "project": project_id})


async def apublish(project_id: int, event: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(project_group(project_id), _message(event, payload))
