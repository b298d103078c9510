"""Live events for a project, sent over the channel layer to its websocket group."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def project_group(project_id: int) -> str:
    return f"project-{project_id}"


def publish(project_id: int, event: str, payload: dict[str, Any]) -> None:
    """Send ``{"event": event, **payload}`` to everyone watching the project (sync callers)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        project_group(project_id), {"type": "project.event", "event": event, "payload": payload}
    )


async def apublish(project_id: int, event: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(project_group(project_id), {"type": "project.event", "event": event, "payload": payload})
