"""Pages only show and collect; every rule lives behind the API."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from labeling.models import Membership


def home(request: HttpRequest) -> HttpResponse:
    memberships = []
    if request.user.is_authenticated:
        memberships = list(Membership.objects.filter(user=request.user).select_related("project"))
    return render(request, "frontend/home.html", {"memberships": memberships})


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
