"""Websocket: one stream per project carrying job progress, new batches and metrics."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from jobs.events import project_group, remember_server_loop
from labeling import permissions

# Close codes in the private-use range (4000-4999) so clients can tell why.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class ProjectEventsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Members who may read the project's jobs (experts, managers) receive its events."""

    async def connect(self) -> None:
        remember_server_loop()
        user = self.scope.get("user")
        self.project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(permissions.is_reader)("job", user, self.project_id):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = project_group(self.project_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"event": "pong"})

    async def project_event(self, message: dict[str, Any]) -> None:
        await self.send_json({"event": message["event"], **message["payload"]})
