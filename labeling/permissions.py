"""Who may read and write what: the whole access policy, in one table.

Every API view declares the resource it serves; querysets are narrowed with
``visible()`` and writes are checked with ``can_write()`` / ``require_write()``.
Nothing else in the code base decides access.

Rules
- A member reads a resource when one of their roles in its project is in ``read``.
- A worker additionally reads their *own* assignments and answers (``own_path``), and
  nothing else of the project: no concepts, labels, assessment sets, other answers.
- Writes need a role in ``write``; where ``owner_path`` is set (concept-scoped work),
  only the owner writes (roles in ``owner_exempt`` write whatever the owner).
- Outsiders see nothing: objects outside their projects are 404, never 403, so ids do
  not leak; a reference to an object one may not read (``"project": 7`` in a body) is
  refused exactly like a reference to a missing one.
- Nothing moves: the first step of ``project_path`` (the parent key: a concept's
  project, a label's concept, an assignment's batch) is fixed once the object exists,
  and every object a write refers to must lie in the written object's project. The
  viewsets apply both to every resource from this table (``labeling.views.ScopedViewSet``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Model, Q, QuerySet
from rest_framework.exceptions import PermissionDenied

from labeling.choices import Role
from labeling.models import Membership, Project

E, W, M = Role.EXPERT.value, Role.WORKER.value, Role.MANAGER.value


@dataclass(frozen=True)
class Rule:
    project_path: str                 # ORM path from the model to its Project
    read: frozenset[str]
    write: frozenset[str]
    owner_path: str | None = None     # ORM path to the user who owns the object
    own_path: str | None = None       # ORM path to the user for whom it is "their own"
    owner_exempt: frozenset[str] = frozenset()  # writing roles not bound by the owner rule

    @property
    def parent(self) -> str | None:
        """The field that ties an object to its project's tree; fixed after creation."""
        return self.project_path.split("__", 1)[0] if self.project_path else None


def _rule(project_path: str, read: set[str], write: set[str], *, owner_exempt: set[str] | None = None,
          **kw: str) -> Rule:
    return Rule(project_path, frozenset(read), frozenset(write), owner_exempt=frozenset(owner_exempt or ()), **kw)


POLICY: dict[str, Rule] = {
    "project": _rule("", {E, W, M}, {M}),
    "membership": _rule("project", {E, M}, {M}),
    "cohort": _rule("project", {E, M}, {M}),
    "concept": _rule("project", {E, M}, {E}, owner_path="owner"),
    "pool": _rule("project", {E, M}, {E, M}),
    "item": _rule("pool__project", {E, M}, {E, M}),
    "template": _rule("concept__project", {E, M}, {E}, owner_path="concept__owner"),
    "assessment_set": _rule("concept__project", {E, M}, {E}, owner_path="concept__owner"),
    "batch": _rule("concept__project", {E, M}, {E}, owner_path="concept__owner"),
    "assignment": _rule("batch__concept__project", {E, M}, {E}, owner_path="batch__concept__owner",
                        own_path="assignee"),
    "answer": _rule("assignment__batch__concept__project", {E, M}, set(), own_path="worker"),
    "label": _rule("concept__project", {E, M}, {E}, owner_path="concept__owner"),
    "model_version": _rule("concept__project", {E, M}, {E}, owner_path="concept__owner"),
    # A job is retried by whoever started it, or by a manager of the project.
    "job": _rule("project", {E, M}, {E, M}, owner_path="created_by", owner_exempt={M}),
    # The crowd side: a crowd batch's collection settings are changed by the concept's
    # owner or a manager; worker skills are paused and resumed by managers.
    "collection": _rule("batch__concept__project", {E, M}, {E, M}, owner_path="batch__concept__owner",
                        owner_exempt={M}),
    "worker_skill": _rule("concept__project", {E, M}, {M}),
    "decision": _rule("collection__batch__concept__project", {E, M}, set()),
}

# Which resource of the table each model is, filled in by the viewsets that serve them
# (``ScopedViewSet`` registers itself), so references in request bodies are narrowed to
# what the requester may read without a list kept by hand.
_RESOURCE_OF_MODEL: dict[type[Model], str] = {}


def register_model(model: type[Model], resource: str) -> None:
    if resource not in POLICY:
        raise KeyError(f"{resource!r} is not a resource of labeling.permissions.POLICY")
    _RESOURCE_OF_MODEL[model] = resource


def resource_of(model: type[Model]) -> str | None:
    return _RESOURCE_OF_MODEL.get(model)


def _path(rule: Rule, suffix: str) -> str:
    return f"{rule.project_path}__{suffix}" if rule.project_path else suffix


def roles_in(user: Any, project: Project | int) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    project_id = project if isinstance(project, int) else project.pk
    return set(Membership.objects.filter(user=user, project_id=project_id).values_list("role", flat=True))


def visible(resource: str, user: Any, queryset: QuerySet[Any]) -> QuerySet[Any]:
    """``queryset`` narrowed to what ``user`` may read."""
    rule = POLICY[resource]
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    projects = Membership.objects.filter(user=user, role__in=rule.read).values("project_id")
    condition = Q(**{_path(rule, "id__in"): projects})
    if rule.own_path:
        condition |= Q(**{rule.own_path: user})
    return queryset.filter(condition).distinct()


def project_of(resource: str, obj: Model) -> Project:
    rule = POLICY[resource]
    target: Any = obj
    for part in filter(None, rule.project_path.split("__")):
        target = getattr(target, part)
    return target


def project_id_of(resource: str, obj: Model) -> int | None:
    """The id of ``obj``'s project, reading one foreign key less than ``project_of``."""
    parts = [p for p in POLICY[resource].project_path.split("__") if p]
    if not parts:
        return obj.pk
    target: Any = obj
    for part in parts[:-1]:
        target = getattr(target, part)
    return getattr(target, f"{parts[-1]}_id")


def _owner_of(rule: Rule, obj: Model) -> Any:
    target: Any = obj
    for part in (rule.owner_path or "").split("__"):
        target = getattr(target, part)
    return target


def can_write(resource: str, user: Any, project: Project, obj: Model | None = None) -> bool:
    rule = POLICY[resource]
    roles = roles_in(user, project)
    if not roles & rule.write:
        return False
    if rule.owner_path and obj is not None and not roles & rule.owner_exempt:
        return bool(_owner_of(rule, obj) == user)
    return True


def require_write(resource: str, user: Any, project: Project, obj: Model | None = None) -> None:
    if not can_write(resource, user, project, obj):
        raise PermissionDenied(f"You may not change this {resource.replace('_', ' ')}.")


def is_reader(resource: str, user: Any, project: Project) -> bool:
    return bool(roles_in(user, project) & POLICY[resource].read)
