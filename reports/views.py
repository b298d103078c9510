"""The manager's API: read-only figures and exports. ``labeling.permissions`` decides who
reads ("report": the project's managers; "crowd_quality" and the exports: managers and the
concept's owner); services in this app and in ``aggregation.quality`` compute."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aggregation.quality import crowd_quality
from labeling import permissions
from labeling.inputs import header_safe
from labeling.models import Concept, Project
from reports import exports, services


def _concept(resource: str, request: Request, pk: int) -> Concept:
    queryset = Concept.objects.select_related("project", "owner")
    return get_object_or_404(permissions.visible(resource, request.user, queryset), pk=pk)


class ProjectDashboardView(APIView):
    @extend_schema(responses={200: dict}, summary="The manager's dashboard: every concept's expert rounds, crowd "
                                                  "batches and expert- vs crowd-trained models")
    def get(self, request: Request, pk: int) -> Response:
        project = get_object_or_404(permissions.visible("project", request.user, Project.objects.all()), pk=pk)
        if not permissions.is_reader("report", request.user, project):
            raise Http404
        concepts = list(permissions.visible("report", request.user, project.concepts.select_related("owner")))
        return Response(services.project_dashboard(project, concepts))


class ExpertVsCrowdView(APIView):
    @extend_schema(responses={200: dict}, summary="Every model of the concept on its expert evaluation set, "
                                                  "grouped by label source, with labels and cost spent")
    def get(self, request: Request, pk: int) -> Response:
        return Response(services.expert_vs_crowd(_concept("report", request, pk)))


class CrowdQualityView(APIView):
    @extend_schema(responses={200: dict}, summary="Crowd quality per cohort and worker, agreement per batch, "
                                                  "crowd-vs-expert disagreements")
    def get(self, request: Request, pk: int) -> Response:
        return Response(crowd_quality(_concept("crowd_quality", request, pk)))


EXPORTS: dict[str, tuple[Callable[[Concept], str], str, str]] = {
    "answers.csv": (exports.answers_csv, "text/csv", "answers"),
    "labels.csv": (exports.labels_csv, "text/csv", "labels"),
    "labels.jsonl": (exports.labels_jsonl, "application/jsonl", "labels"),
    "worker-accuracies.csv": (exports.worker_accuracies_csv, "text/csv", "worker-accuracies"),
}


def _export_view(name: str) -> type[APIView]:
    build, media_type, stem = EXPORTS[name]
    extension = name.rsplit(".", 1)[1]

    @extend_schema(responses={(200, media_type): OpenApiTypes.STR}, summary=f"Export the concept's {stem} ({name})")
    def get(self: APIView, request: Request, pk: int) -> HttpResponse:
        concept = _concept("crowd_quality", request, pk)
        response = HttpResponse(build(concept), content_type=f"{media_type}; charset=utf-8")
        filename = f"{header_safe(concept.name, 'concept')}-{stem}.{extension}"
        response["Content-Disposition"] = content_disposition_header(True, filename)
        return response

    class_name = "Export" + "".join(part.title() for part in stem.split("-")) + extension.title() + "View"
    return type(class_name, (APIView,), {"get": get})


EXPORT_VIEWS: dict[str, Any] = {name: _export_view(name) for name in EXPORTS}
