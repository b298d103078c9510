"""Labeling's signals, in both directions.

Sent by labeling, for apps above it to hook into without labeling importing them
(labeling sits below aggregation and modeling). Both are sent inside the transaction that
stores the change, so a receiver's writes commit or roll back with it, and a receiver may
refuse the change by raising (an ``APIException`` becomes the response):

answer_stored(sender=Answer, answer, assignment): a new answer was stored.
answer_retracted(sender=Answer, answer, assignment): an answer was retracted (undo).

Received by labeling: membership changes reach the person's open websocket streams (see
``ProjectEventsConsumer`` and the workers' stream). A signal, not a service call:
memberships change through the API, the admin and cascades (a project or a user deleted),
and every path must revoke a stream.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import Signal, receiver

from jobs.events import access_changed
from labeling.models import Membership

answer_stored = Signal()
answer_retracted = Signal()


@receiver(pre_save, sender=Membership, dispatch_uid="labeling.membership_saving")
def _remember_previous(sender: Any, instance: Membership, **kwargs: Any) -> None:
    previous = Membership.objects.filter(pk=instance.pk).values_list("user_id", "project_id").first() \
        if instance.pk else None
    instance._previous_access = previous  # type: ignore[attr-defined]


@receiver(post_save, sender=Membership, dispatch_uid="labeling.membership_saved")
@receiver(post_delete, sender=Membership, dispatch_uid="labeling.membership_deleted")
def _membership_changed(sender: Any, instance: Membership, **kwargs: Any) -> None:
    affected = {(instance.user_id, instance.project_id)}
    previous = getattr(instance, "_previous_access", None)
    if previous is not None:
        affected.add(previous)
    for user_id, project_id in affected:
        transaction.on_commit(lambda u=user_id, p=project_id: access_changed(u, p))
