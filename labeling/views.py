"""Thin API views: the serializer validates, the policy decides access, services change state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Model, QuerySet
from django.http import FileResponse, Http404, HttpRequest
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.relations import ManyRelatedField, RelatedField
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer, ListSerializer, Serializer

from jobs import services as job_services
from jobs.errors import JobStateError
from jobs.models import Job
from jobs.serializers import JobSerializer
from labeling import permissions, serializers, services
from labeling.choices import LabelSource, PoolStatus
from labeling.errors import Conflict
from labeling.inputs import query_int
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


def narrow_references(serializer: BaseSerializer[Any], user: Any) -> None:
    """Every writable related field of ``serializer`` (nested ones too) accepts only objects
    ``user`` may read: an id one may not see is refused like an id that does not exist."""
    if isinstance(serializer, ListSerializer):
        serializer = serializer.child
    for field in getattr(serializer, "fields", {}).values():
        if isinstance(field, ManyRelatedField):
            field = field.child_relation
        if isinstance(field, ListSerializer):
            field = field.child
        if isinstance(field, Serializer):
            narrow_references(field, user)
        elif isinstance(field, RelatedField) and not field.read_only and field.queryset is not None:
            resource = permissions.resource_of(field.queryset.model)
            if resource is not None:
                field.queryset = permissions.visible(resource, user, field.queryset)


def _references(data: Any, field: str | None = None) -> Iterator[tuple[str, Model]]:
    """(top-level field, model instance) for every object a validated payload refers to."""
    if isinstance(data, Model):
        yield field or "", data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _references(value, field or key)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from _references(value, field)


def narrowed(queryset: QuerySet[Any], request: Request, filter_params: dict[str, str]) -> QuerySet[Any]:
    """``queryset`` narrowed by id query parameters, e.g. ``?concept=3`` -> ``concept_id=3``."""
    for param, lookup in filter_params.items():
        value = query_int(request, param)
        if value is not None:
            queryset = queryset.filter(**{lookup: value})
    return queryset


class ScopedViewSet(viewsets.ModelViewSet):  # type: ignore[type-arg]
    """CRUD over one policy resource, the same rules for every resource of the table:

    - reads are narrowed by ``permissions.visible``;
    - references in a body (``"project": 3``, nested ``examples[].item``) resolve only to
      objects the requester may read, so a foreign id answers like a missing one;
    - writes are checked by ``permissions.require_write`` against the object's project;
    - nothing moves: the parent key (``permissions.Rule.parent``) is fixed after creation,
      and every object referred to must lie in the written object's project.
    """

    resource: str
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9]+"

    # Query parameters that narrow a list, e.g. ``?concept=3`` -> ``concept_id=3``.
    filter_params: dict[str, str] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "resource", None) and getattr(cls, "queryset", None) is not None:
            permissions.register_model(cls.queryset.model, cls.resource)

    def get_queryset(self) -> QuerySet[Any]:
        queryset = permissions.visible(self.resource, self.request.user, self.queryset.all())
        return narrowed(queryset, self.request, self.filter_params)

    def get_serializer(self, *args: Any, **kwargs: Any) -> BaseSerializer[Any]:
        serializer = super().get_serializer(*args, **kwargs)
        narrow_references(serializer, self.request.user)
        return serializer

    def check_object_permissions(self, request: Request, obj: Model) -> None:
        """A write to an existing object (update, delete, detail actions) needs write access
        before its body is even read: a reader gets a 403 whatever they send."""
        super().check_object_permissions(request, obj)
        if request.method not in SAFE_METHODS:
            permissions.require_write(self.resource, request.user, permissions.project_of(self.resource, obj), obj)

    def create_extra(self) -> dict[str, Any]:
        """Fields the server sets on create (owner, created_by)."""
        return {}

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        probe = self._probe(serializer)
        project = permissions.project_of(self.resource, probe)
        permissions.require_write(self.resource, self.request.user, project, probe)
        self._check_references(serializer, project.pk)
        self._save(serializer, **self.create_extra())

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        instance = serializer.instance
        project = permissions.project_of(self.resource, instance)
        permissions.require_write(self.resource, self.request.user, project, instance)
        self._check_parent_fixed(serializer, instance)
        self._check_references(serializer, project.pk)
        self._save(serializer)

    def perform_destroy(self, instance: Model) -> None:
        permissions.require_write(self.resource, self.request.user, permissions.project_of(self.resource, instance), instance)
        try:
            with transaction.atomic():
                instance.delete()
        except IntegrityError:
            raise Conflict("Other records still refer to this one.") from None

    def _check_parent_fixed(self, serializer: BaseSerializer[Any], instance: Model) -> None:
        parent = permissions.POLICY[self.resource].parent
        data = serializer.validated_data  # type: ignore[union-attr]
        if parent and parent in data:
            moved = getattr(data[parent], "pk", data[parent]) != getattr(instance, f"{parent}_id")
        else:  # a read-only parent: DRF would drop it silently, so say it cannot change
            raw = getattr(serializer, "initial_data", {})
            moved = bool(parent) and isinstance(raw, dict) and parent in raw \
                and str(raw[parent]) != str(getattr(instance, f"{parent}_id"))
        if moved:
            noun = self.resource.replace("_", " ")
            raise ValidationError({parent: f"A {noun} cannot move to another {parent}; create a new one there."})

    def _check_references(self, serializer: BaseSerializer[Any], project_id: int) -> None:
        for field, target in _references(serializer.validated_data):  # type: ignore[union-attr]
            resource = permissions.resource_of(type(target))
            if resource is not None and permissions.project_id_of(resource, target) != project_id:
                raise ValidationError({field: "Belongs to another project."})

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
        shard_rows = serializer.validated_data.pop("shard_rows", None)
        super().perform_create(serializer)
        pool = serializer.instance
        params = {"pool": pool.pk} | ({"shard_rows": shard_rows} if shard_rows else {})
        self.embed_job = job_services.enqueue(pool.project, "embed_pool", params, self.request.user)

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

    @extend_schema(responses={200: dict}, summary="The task exactly as a worker will see it (for the preview)")
    @action(detail=True, methods=["get"])
    def preview(self, request: Request, pk: str | None = None) -> Response:
        return Response(serializers.task_of(self.get_object()))


class AssessmentSetViewSet(ScopedViewSet):
    filter_params = {"concept": "concept_id"}
    resource = "assessment_set"
    queryset = AssessmentSet.objects.select_related("concept").prefetch_related("items")
    serializer_class = serializers.AssessmentSetSerializer

    def create_extra(self) -> dict[str, Any]:
        return {"created_by": self.request.user}

    @extend_schema(request=serializers.BuildAssessmentInput, responses={201: serializers.AssessmentSetSerializer},
                   summary="Build an assessment set from the expert's labels (balanced draw or hand-picked)")
    @action(detail=False, methods=["post"])
    def build(self, request: Request) -> Response:
        data = serializers.BuildAssessmentInput(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        concept = data.validated_data["concept"]
        if not permissions.is_reader("concept", request.user, concept.project):
            raise Http404
        probe = AssessmentSet(concept=concept)
        permissions.require_write(self.resource, request.user, concept.project, probe)
        try:
            built = services.build_assessment_set(
                concept=concept, user=request.user, name=data.validated_data["name"],
                size=data.validated_data.get("size"), items=data.validated_data.get("items"),
                seed=data.validated_data["seed"])
        except services.AssessmentError as exc:
            raise ValidationError({exc.field: str(exc)}) from None
        return Response(self.get_serializer(built).data, status=status.HTTP_201_CREATED)


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

    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Any]:
        return permissions.visible(self.resource, self.request.user, self.queryset.all())

    def get_serializer(self, *args: Any, **kwargs: Any) -> BaseSerializer[Any]:
        serializer = super().get_serializer(*args, **kwargs)
        if not isinstance(serializer, ListSerializer):
            # One answers only one's own assignments: anyone else's does not exist for them.
            assignment = serializer.fields["assignment"]  # type: ignore[attr-defined]
            user = self.request.user
            mine = Assignment.objects.filter(assignee=user) if user.is_authenticated else Assignment.objects.none()
            assignment.queryset = mine
        return serializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        assignment = data["assignment"]
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
    """Labels; ``?source=expert|aggregated`` narrows to one source."""

    filter_params = {"concept": "concept_id", "item": "item_id"}

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        source = self.request.query_params.get("source")
        if source is not None:
            if source not in LabelSource.values:
                raise ValidationError({"source": f"One of: {', '.join(LabelSource.values)}."})
            queryset = queryset.filter(source=source)
        return queryset

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
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Any]:
        queryset = permissions.visible(self.resource, self.request.user, self.queryset.all())
        project = query_int(self.request, "project")
        return queryset.filter(project_id=project) if project is not None else queryset

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
    size = query_int(request, "size", DEFAULT_SIZE, maximum=10_000)
    return open_item_image(item, size or DEFAULT_SIZE)


def _may_view_item(user: Any, item: Item) -> bool:
    if permissions.is_reader("item", user, item.pool.project):
        return True
    if Assignment.objects.filter(item=item, assignee=user).exists():
        return True
    # Example images of templates used in the worker's batches.
    return Assignment.objects.filter(assignee=user, batch__template__examples__item=item).exists()
