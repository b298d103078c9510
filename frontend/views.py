"""Pages only show and collect; every rule lives behind the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import ensure_csrf_cookie

from labeling import permissions
from labeling.models import Concept, Membership, Project


def home(request: HttpRequest) -> HttpResponse:
    memberships = []
    if request.user.is_authenticated:
        memberships = list(Membership.objects.filter(user=request.user).select_related("project"))
    return render(request, "frontend/home.html", {"memberships": memberships})


def _readable(resource: str, request: HttpRequest, project: Project) -> None:
    # Same answer as the API: a page of a project you may not read does not exist.
    if not permissions.is_reader(resource, request.user, project):
        raise Http404


@login_required
@ensure_csrf_cookie
def project_page(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_object_or_404(Project, pk=pk)
    _readable("concept", request, project)
    return render(request, "frontend/project.html", {"project": project})


@login_required
@ensure_csrf_cookie
def studio_page(request: HttpRequest, pk: int) -> HttpResponse:
    concept = get_object_or_404(Concept.objects.select_related("project", "owner"), pk=pk)
    _readable("concept", request, concept.project)
    return render(request, "frontend/studio.html", {"concept": concept, "project": concept.project})


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
