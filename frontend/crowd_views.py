"""The crowd pages: a worker's task page, and what the studio's crowd panel takes from the
server so that it holds no rule of its own (who may author and send, the default question,
the collection settings with the API's own defaults and bounds)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from rest_framework import fields as drf

from aggregation import leasing
from aggregation.models import Collection, Method, Policy
from labeling import permissions
from labeling.choices import BatchKind
from labeling.models import Batch, Concept, TaskTemplate
from labeling.serializers import default_question
from modeling.crowd import EVALUATION_OVERLAP, default_overlap
from modeling.crowd_views import CrowdBatchInput

#: The collection settings the "send to the crowd" form shows, in this order, with labels.
SETTING_LABELS = {
    "method": "Method", "tau": "Confidence tau", "kappa": "Most answers per item (kappa)",
    "overlap": "Answers per item at first", "budget": "Budget (answers; empty: none)", "gold_rate": "Gold rate",
    "price": "Price per answer", "policy": "Policy", "lease_seconds": "Lease (seconds)",
    "onboarding": "Onboarding items", "pass_bar": "Onboarding pass bar", "pause_bar": "Pause bar",
}


@login_required
@ensure_csrf_cookie
def work_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The task page of a crowd batch, for its workers; 404 for anyone else, as the API."""
    batch = (Batch.objects.select_related("concept__project", "cohort")
             .filter(pk=pk, kind=BatchKind.CROWD).first())
    if batch is None or not Collection.objects.filter(batch=batch).exists() \
            or not leasing.is_worker_of(request.user, batch):
        raise Http404
    return render(request, "frontend/crowd_task.html", {"batch": batch, "project": batch.concept.project})


def studio_crowd_context(request: HttpRequest, concept: Concept) -> dict[str, Any]:
    """The studio's crowd panel: what this person may do, and the form's defaults."""
    project = concept.project
    can_author = permissions.can_write("template", request.user, project, TaskTemplate(concept=concept))
    can_send = permissions.can_write("collection", request.user, project, Collection(batch=Batch(concept=concept)))
    inputs = CrowdBatchInput().fields
    settings = [_field_spec(name, inputs[name]) for name in SETTING_LABELS]
    source_default = inputs["source"].default
    # The initial overlap's default depends on the source (2 for the evaluation sample):
    # the form shows the one of the chosen source and follows the source until it is edited.
    overlap = {source: default_overlap(source, inputs["kappa"].default) for source in inputs["source"].choices}
    for spec in settings:
        if spec["name"] == "overlap":
            spec.update(value=str(overlap[source_default]), by_source=json.dumps(overlap),
                        help=f"{spec['help']} Default 1, {EVALUATION_OVERLAP} for the evaluation sample.".strip())
    return {"crowd": {
        "can_author": can_author, "can_send": can_send,
        "default_question": default_question(concept), "default_description": concept.description,
        "settings": settings,
        "sources": list(inputs["source"].choices.items()), "source_default": source_default,
        "size_default": inputs["size"].default, "k_default": inputs["k"].default,
    }}


def _field_spec(name: str, field: drf.Field) -> dict[str, Any]:
    default = field.default if field.default is not drf.empty else None
    help_text = str(getattr(Collection._meta.get_field(name), "help_text", ""))
    spec: dict[str, Any] = {"name": name, "label": SETTING_LABELS[name],
                            "value": "" if default is None else str(default),
                            "help": "" if help_text.rstrip(".") == SETTING_LABELS[name] else help_text,
                            "required": not getattr(field, "allow_null", False)}
    if isinstance(field, drf.ChoiceField):
        named = dict(Method.choices) | dict(Policy.choices)
        spec["choices"] = [(value, named.get(value, label)) for value, label in field.choices.items()]
        return spec
    spec["min"], spec["max"] = getattr(field, "min_value", None), getattr(field, "max_value", None)
    if isinstance(field, drf.IntegerField):
        spec["step"] = "1"
    elif isinstance(field, drf.DecimalField):
        spec["step"] = str(Decimal(1).scaleb(-field.decimal_places))
    else:
        spec["step"] = "any"
    return spec
