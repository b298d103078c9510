"""The crowd API: next task (leases), a worker's open work, collection settings and
progress, re-aggregation, worker skills (pause/resume), decision records.

Thin views: input serializers validate, ``labeling.permissions`` decides who reads and
writes, services in this app change state. Answers themselves go through
``POST /api/answers/`` like every answer; the live step runs inside it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aggregation import leasing, skills, work
from aggregation.models import Collection, Decision, WorkerSkill
from aggregation.serializers import (
    CollectionSerializer,
    DecisionSerializer,
    LeaseSerializer,
    NextInput,
    ReaggregateInput,
    WorkerSkillSerializer,
)
from jobs import services as job_services
from jobs.serializers import JobSerializer
from labeling import permissions
from labeling.models import Batch
from labeling.views import ScopedViewSet, narrowed


class NextTaskView(APIView):
    @extend_schema(request=NextInput, responses=LeaseSerializer,
                   summary="Lease my next task(s) in a crowd batch (the one on screen and the next, preloaded)")
    def post(self, request: Request) -> Response:
        data = NextInput(data=request.data)
        data.is_valid(raise_exception=True)
        batch = (Batch.objects.select_related("concept", "cohort", "collection", "template")
                 .filter(pk=data.validated_data["batch"]).first())
        if batch is None:
            raise NotFound()
        try:
            lease = leasing.next_tasks(request.user, batch, data.validated_data["hold"])
        except leasing.NotAWorker:
            raise NotFound() from None  # a batch one may not work on does not exist for them
        return Response(LeaseSerializer(lease, context={"request": request}).data)


class MyWorkView(APIView):
    @extend_schema(responses={200: dict}, summary="My open crowd work, per project")
    def get(self, request: Request) -> Response:
        return Response({"results": work.open_work(request.user)})


class CollectionViewSet(ScopedViewSet):
    """Crowd batches' collection settings and progress; PATCH changes settings."""

    resource = "collection"
    queryset = Collection.objects.select_related("batch__concept")
    serializer_class = CollectionSerializer
    http_method_names = ["get", "patch", "post", "head", "options"]
    filter_params = {"batch": "batch_id", "concept": "batch__concept_id"}

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise MethodNotAllowed("POST", "Crowd batches are made with POST /api/concepts/{id}/crowd-batches/.")

    @extend_schema(request=ReaggregateInput, responses={202: JobSerializer},
                   summary="Re-aggregate the whole batch with any method (a job); earlier decisions stay")
    @action(detail=True, methods=["post"])
    def reaggregate(self, request: Request, pk: str | None = None) -> Response:
        collection = self.get_object()
        project = collection.batch.concept.project
        permissions.require_write("collection", request.user, project, collection)
        data = ReaggregateInput(data=request.data)
        data.is_valid(raise_exception=True)
        created = job_services.enqueue(project, "reaggregate", {"batch": collection.batch_id,
                                                                "method": data.validated_data["method"]},
                                       request.user)
        return Response(JobSerializer(created).data, status=status.HTTP_202_ACCEPTED)


class WorkerSkillViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    """Workers' accuracy per concept, with its interval and status; managers pause/resume."""

    resource = "worker_skill"
    queryset = WorkerSkill.objects.select_related("worker", "concept")
    serializer_class = WorkerSkillSerializer

    def get_queryset(self) -> QuerySet[Any]:
        queryset = permissions.visible("worker_skill", self.request.user, self.queryset.all())
        return narrowed(queryset, self.request, {"concept": "concept_id", "cohort": "cohort_id"})

    def _set(self, request: Request, paused: bool) -> Response:
        skill = self.get_object()
        permissions.require_write("worker_skill", request.user, skill.concept.project, skill)
        return Response(self.get_serializer(skills.set_paused(skill, paused)).data)

    @extend_schema(request=None, responses=WorkerSkillSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._set(request, True)

    @extend_schema(request=None, responses=WorkerSkillSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._set(request, False)


class DecisionViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    """Every aggregated label as decided, with the answers and accuracies it came from."""

    resource = "decision"
    queryset = Decision.objects.select_related("collection")
    serializer_class = DecisionSerializer

    def get_queryset(self) -> QuerySet[Any]:
        queryset = permissions.visible("decision", self.request.user, self.queryset.all())
        return narrowed(queryset, self.request, {"batch": "collection__batch_id", "item": "item_id",
                                                  "label": "label_id"})
