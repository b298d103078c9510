"""Websocket for crowd workers: ``/ws/work/`` tells a worker when new work may be there
("work.available" with the batch id), so a task page showing "no more work" asks again.
It carries nothing else: no labels, no other workers' answers, no progress figures."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from jobs.events import cohort_group, project_workers_group, remember_server_loop, user_group
from labeling.choices import Role
from labeling.consumers import CLOSE_UNAUTHENTICATED
from labeling.models import Cohort, Membership


def _groups_of(user: Any) -> list[str]:
    """The person's own group (told of access changes), and the work groups of the
    projects they work in and of their cohorts there."""
    projects = list(Membership.objects.filter(user=user, role=Role.WORKER).values_list("project_id", flat=True))
    cohorts = Cohort.objects.filter(workers=user, project_id__in=projects).values_list("pk", flat=True)
    return [user_group(user.pk), *(project_workers_group(p) for p in projects), *(cohort_group(c) for c in cohorts)]


class WorkEventsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """A worker hears of work in the projects they work in and the cohorts they belong to;
    when their memberships change (``access.changed``) the groups are worked out again, so
    someone removed from a project hears nothing more of it, without reconnecting."""

    async def connect(self) -> None:
        remember_server_loop()
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.groups_joined: list[str] = []
        await self._join(await database_sync_to_async(_groups_of)(self.user))
        await self.accept()

    async def _join(self, groups: list[str]) -> None:
        for group in set(self.groups_joined) - set(groups):
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in set(groups) - set(self.groups_joined):
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = []

    async def access_changed(self, message: dict[str, Any]) -> None:
        await self._join(await database_sync_to_async(_groups_of)(self.user))

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"event": "pong"})

    async def project_event(self, message: dict[str, Any]) -> None:
        await self.send_json({"event": message["event"], **message["payload"]})
