"""Thin API views: the serializer validates, the policy decides access, services change state."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Model, QuerySet
from django.http import FileResponse, Http404, HttpRequest
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from jobs import services as job_services
from jobs.errors import JobStateError
from jobs.models import Job
from jobs.serializers import JobSerializer
from labeling import permissions, serializers, services
from labeling.choices import LabelSource, PoolStatus
from labeling.errors import Conflict
from labeling.models import (
    Answer,
    AssessmentSet,
    Assignment,
    Batch,
    Cohort,
    Concept,
    Item,
    Label,
    Membership,
    Pool,
    Project,
    TaskTemplate,
)


class ScopedViewSet(viewsets.ModelViewSet):  # type: ignore[type-arg]
    """CRUD over one policy resource: reads narrowed by ``visible``, writes by ``require_write``."""

    resource: str
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    # Query parameters that narrow a list, e.g. ``?concept=3`` -> ``concept_id=3``.
    filter_params: dict[str, str] = {}

    def get_queryset(self) -> QuerySet[Any]:
        queryset = permissions.visible(self.resource, self.request.user, self.queryset.all())
        for param, lookup in self.filter_params.items():
            value = self.request.query_params.get(param)
            if value is not None:
                if not value.isdigit():
                    raise ValidationError({param: "Must be a whole number."})
                queryset = queryset.filter(**{lookup: int(value)})
        return queryset

    def create_extra(self) -> dict[str, Any]:
        """Fields the server sets on create (owner, created_by)."""
        return {}

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        probe = self._probe(serializer)
        permissions.require_write(self.resource, self.request.user, permissions.project_of(self.resource, probe), probe)
        self._save(serializer, **self.create_extra())

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        instance = serializer.instance
        permissions.require_write(self.resource, self.request.user, permissions.project_of(self.resource, instance), instance)
        self._save(serializer)

    def perform_destroy(self, instance: Model) -> None:
        permissions.require_write(self.resource, self.request.user, permissions.project_of(self.resource, instance), instance)
        try:
            with transaction.atomic():
                instance.delete()
        except IntegrityError:
            raise Conflict("Other records still refer to this one.") from None

    def _probe(self, serializer: BaseSerializer[Any]) -> Model:
        """An unsaved instance of what would be created, to check access before writing."""
        model = self.queryset.model
        plain = {f.name for f in model._meta.concrete_fields}
        data = {k: v for k, v in serializer.validated_data.items() if k in plain}  # type: ignore[union-attr]
        return model(**data, **self.create_extra())

    @staticmethod
    def _save(serializer: BaseSerializer[Any], **extra: Any) -> None:
        try:
            with transaction.atomic():
                serializer.save(**extra)
        except IntegrityError:
            raise Conflict("This would duplicate an existing record.") from None


class ProjectViewSet(ScopedViewSet):
    resource = "project"
    queryset = Project.objects.prefetch_related("memberships")
    serializer_class = serializers.ProjectSerializer

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        data = serializer.validated_data  # type: ignore[union-attr]
        serializer.instance = services.create_project(user=self.request.user, **data)


class MembershipViewSet(ScopedViewSet):
    resource = "membership"
    queryset = Membership.objects.select_related("user", "project")
    serializer_class = serializers.MembershipSerializer
    filter_params = {"project": "project_id"}


class CohortViewSet(ScopedViewSet):
    filter_params = {"project": "project_id"}
    resource = "cohort"
    queryset = Cohort.objects.prefetch_related("workers")
    serializer_class = serializers.CohortSerializer


class ConceptViewSet(ScopedViewSet):
    filter_params = {"project": "project_id"}
    resource = "concept"
    queryset = Concept.objects.select_related("owner")
    serializer_class = serializers.ConceptSerializer

    def create_extra(self) -> dict[str, Any]:
        return {"owner": self.request.user}


class PoolViewSet(ScopedViewSet):
    """Pools, with embedding as a job: creating a pool starts it; ``embed`` starts it again."""

    filter_params = {"project": "project_id"}
    resource = "pool"
    queryset = Pool.objects.all()
    serializer_class = serializers.PoolSerializer

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        super().perform_create(serializer)
        pool = serializer.instance
        self.embed_job = job_services.enqueue(pool.project, "embed_pool", {"pool": pool.pk}, self.request.user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().create(request, *args, **kwargs)
        response.data["job"] = JobSerializer(self.embed_job).data  # the page follows the embedding live
        return response

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def embed(self, request: Request, pk: str | None = None) -> Response:
        pool = self.get_object()
        permissions.require_write("pool", request.user, pool.project, pool)
        created = job_services.enqueue(pool.project, "embed_pool", {"pool": pool.pk}, request.user)
        return Response(JobSerializer(created).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: JobSerializer}, summary="Rebuild the pool's nearest-neighbour index")
    @action(detail=True, methods=["post"])
    def index(self, request: Request, pk: str | None = None) -> Response:
        pool = self.get_object()
        permissions.require_write("pool", request.user, pool.project, pool)
        if pool.status != PoolStatus.READY:
            raise Conflict(f"Pool {pool.name!r} is not ready yet (it is {pool.status}): its index is built "
                           "when the embedding finishes.")
        created = job_services.enqueue(pool.project, "build_index", {"pool": pool.pk}, request.user)
        return Response(JobSerializer(created).data, status=status.HTTP_202_ACCEPTED)


class ItemViewSet(ScopedViewSet):
    filter_params = {"pool": "pool_id"}
    resource = "item"
    queryset = Item.objects.all()
    serializer_class = serializers.ItemSerializer


class TaskTemplateViewSet(ScopedViewSet):
    filter_params = {"concept": "concept_id"}
    resource = "template"
    queryset = TaskTemplate.objects.select_related("concept").prefetch_related("examples")
    serializer_class = serializers.TaskTemplateSerializer

    def create_extra(self) -> dict[str, Any]:
        return {"created_by": self.request.user}


class AssessmentSetViewSet(ScopedViewSet):
    filter_params = {"concept": "concept_id"}
    resource = "assessment_set"
    queryset = AssessmentSet.objects.select_related("concept").prefetch_related("items")
    serializer_class = serializers.AssessmentSetSerializer

    def create_extra(self) -> dict[str, Any]:
        return {"created_by": self.request.user}


class BatchViewSet(ScopedViewSet):
    filter_params = {"concept": "concept_id"}
    resource = "batch"
    queryset = Batch.objects.select_related("concept")
    serializer_class = serializers.BatchSerializer

    def create_extra(self) -> dict[str, Any]:
        return {"created_by": self.request.user}


class AssignmentViewSet(ScopedViewSet):
    filter_params = {"batch": "batch_id"}
    resource = "assignment"
    queryset = Assignment.objects.select_related("item", "assignee", "batch__template")
    serializer_class = serializers.AssignmentSerializer

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        if self.request.query_params.get("mine") in ("1", "true"):
            queryset = queryset.filter(assignee=self.request.user)
        status_filter = self.request.query_params.get("status")
        if status_filter:
            queryset = queryset.filter(status=status_filter)
        return queryset


class AnswerViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                    viewsets.GenericViewSet):  # type: ignore[type-arg]
    """Answers are created (idempotently) and retracted, never edited or deleted."""

    resource = "answer"
    queryset = Answer.objects.select_related("worker")
    serializer_class = serializers.AnswerSerializer

    def get_queryset(self) -> QuerySet[Any]:
        return permissions.visible(self.resource, self.request.user, self.queryset.all())

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        assignment = data["assignment"]
        if assignment.assignee_id != request.user.pk:
            raise Http404  # someone else's assignment does not exist for this person
        answer, _ = services.submit_answer(
            worker=request.user, assignment=assignment, value=data["value"],
            client_id=data["client_id"], seconds=data.get("seconds"),
        )
        # A replay gets exactly the response of the first submission.
        return Response(self.get_serializer(answer).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=serializers.AnswerSerializer)
    @action(detail=True, methods=["post"])
    def retract(self, request: Request, pk: str | None = None) -> Response:
        answer = self.get_object()
        answer = services.retract_answer(user=request.user, answer=answer)
        return Response(self.get_serializer(answer).data)


class LabelViewSet(ScopedViewSet):
    filter_params = {"concept": "concept_id", "item": "item_id"}
    resource = "label"
    queryset = Label.objects.all()
    serializer_class = serializers.LabelSerializer

    def create_extra(self) -> dict[str, Any]:
        # Labels entered through the API are the expert's; aggregated ones come from runs.
        return {"source": LabelSource.EXPERT, "method": "expert"}


class JobViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    """Jobs of the reader's projects (``?project=`` narrows); a failed job can be retried."""

    resource = "job"
    queryset = Job.objects.all()
    serializer_class = JobSerializer

    def get_queryset(self) -> QuerySet[Any]:
        queryset = permissions.visible(self.resource, self.request.user, self.queryset.all())
        project = self.request.query_params.get("project")
        return queryset.filter(project_id=int(project)) if project and project.isdigit() else queryset

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        row = self.get_object()
        permissions.require_write("job", request.user, row.project, row)
        try:
            retried = job_services.retry(row)
        except JobStateError as exc:
            raise Conflict(str(exc)) from None
        return Response(JobSerializer(retried).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(responses={(200, "image/*"): bytes})
@api_view(["GET"])
def item_image(request: HttpRequest, pk: int) -> FileResponse:
    """The image of an item, for anyone who may see it (a worker: only their assignments)."""
    from labeling.images import DEFAULT_SIZE, open_item_image

    item = Item.objects.select_related("pool").filter(pk=pk).first()
    if item is None or not _may_view_item(request.user, item):
        raise Http404
    size = request.GET.get("size", "")
    return open_item_image(item, int(size) if size.isdigit() else DEFAULT_SIZE)


def _may_view_item(user: Any, item: Item) -> bool:
    if permissions.is_reader("item", user, item.pool.project):
        return True
    if Assignment.objects.filter(item=item, assignee=user).exists():
        return True
    # Example images of templates used in the worker's batches.
    return Assignment.objects.filter(assignee=user, batch__template__examples__item=item).exists()
