"""The expert loop's API: start jobs for a concept, read its metrics, handle pools and models.

Thin views: an input serializer validates, the access policy decides, a job does the work.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import services as jobs
from jobs.serializers import JobSerializer
from labeling import permissions
from labeling.choices import PoolStatus
from labeling.errors import Conflict
from labeling.inputs import MAX_ID, header_safe, query_int
from labeling.models import Concept, Pool
from modeling import evaluation, storage
from modeling.engine.active import STRATEGIES
from modeling.models import ModelVersion
from modeling.serializers import ModelVersionSerializer
from modeling.studio import LABEL_SOURCES, missing_sources, model_card


class PoolInput(serializers.Serializer[Any]):
    pool = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class ExpandInput(PoolInput):
    size = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    per_phrase = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**32 - 1)


class TrainInput(PoolInput):
    label_source = serializers.ChoiceField(choices=LABEL_SOURCES, default="expert",
                                           help_text="expert ratings, aggregated crowd labels (their P(yes) as soft "
                                                     "targets), or both (the expert's label wins).")


class RoundInput(TrainInput):
    strategy = serializers.ChoiceField(choices=sorted(STRATEGIES), default="margin")
    batch_size = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    train = serializers.BooleanField(default=False, help_text="Retrain on the current labels first.")
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**32 - 1)


class EvaluationInput(PoolInput):
    k = serializers.IntegerField(min_value=1, max_value=200, default=evaluation.DEFAULT_K)


def _ready_pool(pool_id: int, concept: Concept) -> Pool:
    pool = Pool.objects.filter(pk=pool_id, project_id=concept.project_id).first()
    if pool is None:
        raise serializers.ValidationError({"pool": "No such pool in this concept's project."})
    if pool.status != PoolStatus.READY:
        raise Conflict(f"Pool {pool.name!r} is not ready yet (it is {pool.status}).")
    return pool


class ConceptJobView(APIView):
    """POST starts a job of ``kind`` for a concept the requester owns."""

    kind = ""
    input_class: type[PoolInput] = PoolInput

    def post(self, request: Request, pk: int) -> Response:
        concept = get_object_or_404(permissions.visible("concept", request.user, Concept.objects.all()), pk=pk)
        permissions.require_write("concept", request.user, concept.project, concept)
        data = self.input_class(data=request.data)
        data.is_valid(raise_exception=True)
        pool = _ready_pool(data.validated_data["pool"], concept)
        params = {**data.validated_data, "concept": concept.pk, "pool": pool.pk}
        created = jobs.enqueue(concept.project, self.kind, params, request.user)
        return Response(JobSerializer(created).data, status=status.HTTP_202_ACCEPTED)


def _job_view(kind: str, input_class: type[PoolInput], summary: str) -> type[ConceptJobView]:
    view = type(f"{kind.title().replace('_', '')}View", (ConceptJobView,), {"kind": kind, "input_class": input_class})
    view.post = extend_schema(request=input_class, responses={202: JobSerializer}, summary=summary)(view.post)
    return view


ExpandView = _job_view("expand", ExpandInput, "Find images for the concept's phrases: a rating batch")
TrainView = _job_view("train", TrainInput, "Train the next model version on expert and/or crowd labels")
RoundView = _job_view("al_round", RoundInput, "Choose the next batch by active learning")
EvaluationSetView = _job_view("evaluation_set", EvaluationInput, "Build the stratified evaluation set")


class TrainMissingView(APIView):
    """One job per label source that has labels but no model yet (expert, crowd, both)."""

    @extend_schema(request=PoolInput, responses={202: dict},
                   summary="Train the missing arms of the expert-vs-crowd comparison from the labels at hand")
    def post(self, request: Request, pk: int) -> Response:
        concept = get_object_or_404(permissions.visible("concept", request.user, Concept.objects.all()), pk=pk)
        permissions.require_write("concept", request.user, concept.project, concept)
        data = PoolInput(data=request.data)
        data.is_valid(raise_exception=True)
        pool = _ready_pool(data.validated_data["pool"], concept)
        sources = missing_sources(concept, pool)
        if not sources:
            raise Conflict("Every label source at hand already has a model on this pool.")
        created = [jobs.enqueue(concept.project, "train", {"concept": concept.pk, "pool": pool.pk,
                                                           "label_source": source}, request.user)
                   for source in sources]
        return Response({"sources": sources, "jobs": JobSerializer(created, many=True).data},
                        status=status.HTTP_202_ACCEPTED)


class MetricsView(APIView):
    @extend_schema(responses={200: dict}, summary="Metrics of zero-shot and every model, against labels spent")
    def get(self, request: Request, pk: int) -> Response:
        concept = get_object_or_404(permissions.visible("concept", request.user, Concept.objects.all()), pk=pk)
        pool_id = query_int(request, "pool")
        pools = Pool.objects.filter(project_id=concept.project_id, status=PoolStatus.READY)
        pool = pools.filter(pk=pool_id).first() if pool_id is not None else pools.first()
        body = evaluation.concept_metrics(concept, pool) if pool else {"zero_shot": None, "models": [],
                                                                       "evaluation": {"batch": None, "size": 0,
                                                                                      "rated": 0}}
        return Response({**body, "pool": pool.pk if pool else None, "strategies": sorted(STRATEGIES)})


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    """Model versions of the reader's projects (``?concept=`` narrows): download, score a pool."""

    queryset = ModelVersion.objects.all()
    serializer_class = ModelVersionSerializer
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Any]:
        queryset = permissions.visible("model_version", self.request.user, self.queryset.all())
        concept = query_int(self.request, "concept")
        return queryset.filter(concept_id=concept) if concept is not None else queryset

    @extend_schema(responses={(200, "application/zip"): bytes})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> HttpResponse:
        version = self.get_object()
        if version.pool_id is None:
            raise Conflict("The pool this model was trained on was deleted, and its model file with it.")
        path = storage.model_path(version)
        if not path.exists():
            raise Conflict("The model file of this version is missing from the pool storage.")
        card = model_card(version)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(path, "model.pt")
            archive.writestr("card.json", json.dumps(card, indent=2))
        name = f"{header_safe(version.concept.name, 'model')}-v{version.number}.zip"
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response

    @extend_schema(responses={200: dict}, summary="The model card: training-label source, configuration, metrics")
    @action(detail=True, methods=["get"])
    def card(self, request: Request, pk: str | None = None) -> HttpResponse:
        version = self.get_object()
        pool = version.pool
        if pool is not None and pool.status == PoolStatus.READY and not storage.is_sharded(pool):
            evaluation.concept_metrics(version.concept, pool)  # evaluates, and so fills the card's metrics
            version.refresh_from_db(fields=["metrics"])
        response = HttpResponse(json.dumps(model_card(version), indent=2), content_type="application/json")
        name = f"{header_safe(version.concept.name, 'model')}-v{version.number}-card.json"
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response

    @extend_schema(request=PoolInput, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def score(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        permissions.require_write("model_version", request.user, version.concept.project, version)
        data = PoolInput(data=request.data)
        data.is_valid(raise_exception=True)
        pool = _ready_pool(data.validated_data["pool"], version.concept)
        created = jobs.enqueue(version.concept.project, "score_pool", {"model_version": version.pk, "pool": pool.pk},
                               request.user)
        return Response(JobSerializer(created).data, status=status.HTTP_202_ACCEPTED)
