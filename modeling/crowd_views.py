"""The studio's "send to the crowd": ``POST /api/concepts/{id}/crowd-batches/``."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aggregation.collection import CrowdBatchError, create_crowd_batch
from aggregation.models import Collection
from aggregation.serializers import CollectionSerializer, CrowdSettingsSerializer
from labeling import permissions
from labeling.inputs import MAX_ID
from labeling.models import AssessmentSet, Batch, Cohort, Concept, Pool, TaskTemplate
from modeling.crowd import EVALUATION_OVERLAP, crowd_items, default_overlap

SOURCES = ("batch", "uncertain", "random", "items", "evaluation")
MAX_ITEMS = 100_000


class CrowdBatchInput(CrowdSettingsSerializer):
    overlap = serializers.IntegerField(
        min_value=1, max_value=50, required=False,
        help_text=f"Answers every item gets at once before any re-query. Default: 1, and {EVALUATION_OVERLAP} "
                  "for source=evaluation (never more than kappa).")
    cohort = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="The cohort whose workers answer.")
    template = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None,
                                        help_text="Default: the concept's latest template (made if none).")
    assessment_set = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None,
                                              help_text="Gold items (default: the set attached to the cohort).")
    source = serializers.ChoiceField(choices=SOURCES, default="batch")
    batch = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None,
                                     help_text="source=batch: the round (expansion or AL) whose items to send.")
    pool = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None)
    size = serializers.IntegerField(min_value=1, max_value=MAX_ITEMS, default=100)
    k = serializers.IntegerField(min_value=1, max_value=200, default=20,
                                 help_text="source=evaluation: the sample's items per score stratum per model "
                                           "(as the expert's evaluation set).")
    items = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False,
                                  max_length=MAX_ITEMS, default=list)


    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("overlap") is None:
            attrs["overlap"] = default_overlap(attrs.get("source", "batch"), attrs.get("kappa", 5))
        return super().validate(attrs)


def _in_concept(model: Any, pk: int | None, concept: Concept, field: str, *, by_project: bool = False) -> Any:
    if pk is None:
        return None
    scope = {"project_id": concept.project_id} if by_project else {"concept": concept}
    found = model.objects.filter(pk=pk, **scope).first()
    if found is None:
        raise serializers.ValidationError({field: f"No such {field.replace('_', ' ')} for this concept."})
    return found


class CrowdBatchView(APIView):
    @extend_schema(request=CrowdBatchInput, responses={201: CollectionSerializer},
                   summary="Send items to a cohort as a crowd batch, with its collection settings")
    def post(self, request: Request, pk: int) -> Response:
        concept = get_object_or_404(permissions.visible("concept", request.user, Concept.objects.all()), pk=pk)
        probe = Collection(batch=Batch(concept=concept))
        permissions.require_write("collection", request.user, concept.project, probe)
        data = CrowdBatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        cohort = _in_concept(Cohort, given["cohort"], concept, "cohort", by_project=True)
        template = _in_concept(TaskTemplate, given["template"], concept, "template")
        assessment = _in_concept(AssessmentSet, given["assessment_set"], concept, "assessment_set")
        source_batch = _in_concept(Batch, given["batch"], concept, "batch")
        pool = _in_concept(Pool, given["pool"], concept, "pool", by_project=True)
        try:
            items = crowd_items(concept, given["source"], pool=pool, batch=source_batch, size=given["size"],
                                items=given["items"], seed=given["seed"], k=given["k"])
            batch = create_crowd_batch(
                concept=concept, items=items, user=request.user, settings=data.to_settings(), cohort=cohort,
                template=template, assessment_set=assessment, selection=given["source"],
                params={"source_batch": given["batch"], "pool": given["pool"], "size": given["size"],
                        **({"k": given["k"]} if given["source"] == "evaluation" else {})})
        except CrowdBatchError as exc:
            raise serializers.ValidationError({exc.field or "items": str(exc)}) from None
        body = CollectionSerializer(batch.collection, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)
