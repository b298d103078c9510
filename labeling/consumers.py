"""Websocket: one stream per project carrying job progress, new batches and metrics."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from jobs.events import project_group, remember_server_loop, user_group
from labeling import permissions

# Close codes in the private-use range (4000-4999) so clients can tell why.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class ProjectEventsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Members who may read the project's jobs (experts, managers) receive its events.

    The check is made on connecting and again whenever the person's memberships change
    (``access.changed``, sent by ``labeling.signals``): someone removed from the project,
    or made a worker, stops receiving its events at once, without reconnecting.
    """

    async def connect(self) -> None:
        remember_server_loop()
        self.user = self.scope.get("user")
        self.project_id = int(self.scope["url_route"]["kwargs"]["project_id"])
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await self.allowed():
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.groups_joined = [project_group(self.project_id), user_group(self.user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def allowed(self) -> bool:
        return bool(await database_sync_to_async(permissions.is_reader)("job", self.user, self.project_id))

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = []

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"event": "pong"})

    async def project_event(self, message: dict[str, Any]) -> None:
        await self.send_json({"event": message["event"], **message["payload"]})

    async def access_changed(self, message: dict[str, Any]) -> None:
        if message.get("project") == self.project_id and not await self.allowed():
            await self.disconnect(CLOSE_FORBIDDEN)
            await self.close(code=CLOSE_FORBIDDEN)
