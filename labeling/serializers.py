"""API representations. Serializers validate shape; access rules (and that nothing refers
across projects) live in ``labeling.permissions`` and ``ScopedViewSet``, state changes in
``labeling.services``. Every serializer derives from ``labeling.inputs.ModelSerializer``
(strict ids, integer bounds, single-line names)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework import serializers

from labeling.choices import AnswerValue, Role
from labeling.inputs import MAX_ID, ModelSerializer, StrictPrimaryKeyRelatedField
from labeling.models import (
    Answer,
    AssessmentItem,
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
    TemplateExample,
)

User = get_user_model()
MAX_PHRASES = 50
MAX_PHRASE_LENGTH = 200
# Every assignment of a template's batch carries all its examples: a handful teaches the
# task (the paper's templates have a few); thousands would make each assignment megabytes.
MAX_EXAMPLES = 50
MAX_ASSESSMENT_ITEMS = 10_000


def default_question(concept: Concept) -> str:
    """The question a new task template asks, as in the original study's crowd template."""
    return f'Is this an image of "{concept.name}"?'


def image_url(item: Item) -> str:
    return reverse("item-image", args=[item.pk])


class ProjectSerializer(ModelSerializer):
    my_roles = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "description", "created_at", "my_roles"]

    def get_my_roles(self, project: Project) -> list[str]:
        user = self.context["request"].user
        return sorted(m.role for m in project.memberships.all() if m.user_id == user.pk)


class MembershipSerializer(ModelSerializer):
    username = serializers.SlugRelatedField(source="user", slug_field="username", queryset=User.objects.all())

    class Meta:
        model = Membership
        fields = ["id", "project", "username", "role", "created_at"]


class CohortSerializer(ModelSerializer):
    workers = serializers.SlugRelatedField(
        many=True, slug_field="username", queryset=User.objects.all(), required=False
    )

    class Meta:
        model = Cohort
        fields = ["id", "project", "name", "description", "workers", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        project = attrs.get("project") or self.instance.project  # type: ignore[union-attr]
        workers = attrs.get("workers", [])
        member_ids = set(
            Membership.objects.filter(project=project, role=Role.WORKER).values_list("user_id", flat=True)
        )
        strangers = [u.username for u in workers if u.pk not in member_ids]
        if strangers:
            raise serializers.ValidationError({"workers": f"Not workers of this project: {', '.join(strangers)}."})
        return attrs


def _phrases(value: list[Any], field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise serializers.ValidationError(f"{field} must be a list of strings.")
    cleaned = [p.strip() for p in value if p.strip()]
    if len(cleaned) > MAX_PHRASES:
        raise serializers.ValidationError(f"At most {MAX_PHRASES} phrases.")
    if any(len(p) > MAX_PHRASE_LENGTH for p in cleaned):
        raise serializers.ValidationError(f"A phrase has at most {MAX_PHRASE_LENGTH} characters.")
    return list(dict.fromkeys(cleaned))


class ConceptSerializer(ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    can_write = serializers.SerializerMethodField(
        help_text="Whether the requester may work this concept (train, run rounds, edit): the pages show "
                  "or hide the expert's buttons by it, the rule being labeling.permissions.")

    class Meta:
        model = Concept
        fields = ["id", "project", "owner", "name", "description", "positive_phrases",
                  "negative_phrases", "all_positive_phrases", "can_write", "created_at"]
        read_only_fields = ["all_positive_phrases"]

    def get_can_write(self, concept: Concept) -> bool:
        from labeling import permissions

        request = self.context.get("request")
        return request is not None and permissions.can_write("concept", request.user, concept.project, concept)

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A concept needs a name.")
        return value.strip()

    def validate_positive_phrases(self, value: list[Any]) -> list[str]:
        return _phrases(value, "positive_phrases")

    def validate_negative_phrases(self, value: list[Any]) -> list[str]:
        return _phrases(value, "negative_phrases")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        positives = {p.lower() for p in attrs.get("positive_phrases", [])}
        both = [p for p in attrs.get("negative_phrases", []) if p.lower() in positives]
        if both:
            raise serializers.ValidationError({"negative_phrases": f"Also a positive phrase: {both[0]!r}."})
        return attrs


class PoolSerializer(ModelSerializer):
    item_count = serializers.IntegerField(source="items.count", read_only=True)
    shard_rows = serializers.IntegerField(
        write_only=True, required=False, min_value=0,
        help_text="Images per shard (each shard its own store, int8 copy and index, embedded and scored "
                  "by any worker); 0 or absent: the server's default (AGILE_SHARD_ROWS, 0 = one shard).")

    class Meta:
        model = Pool
        fields = ["id", "project", "name", "source", "encoder", "status", "item_count", "created_at", "shard_rows"]
        read_only_fields = ["status"]
        extra_kwargs = {"source": {"required": True, "allow_blank": False}}

    def validate_source(self, value: str) -> str:
        from labeling.sources import allowed_source

        return allowed_source(value)

    def validate_encoder(self, value: str) -> str:
        from labeling.sources import known_encoder

        return known_encoder(value)


class ItemSerializer(ModelSerializer):
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = ["id", "pool", "key", "row", "flagged_broken", "image_url"]
        read_only_fields = ["flagged_broken"]
        extra_kwargs = {"row": {"min_value": 0}}

    def get_image_url(self, item: Item) -> str:
        return image_url(item)


class TemplateExampleSerializer(ModelSerializer):
    class Meta:
        model = TemplateExample
        fields = ["id", "item", "is_positive", "note", "is_test"]


class TaskTemplateSerializer(ModelSerializer):
    """For experts and managers: includes the expected answers of every example."""

    examples = TemplateExampleSerializer(many=True, required=False, max_length=MAX_EXAMPLES)
    question = serializers.CharField(max_length=500, required=False,
                                     help_text='Default: Is this an image of "<concept>"?')

    class Meta:
        model = TaskTemplate
        fields = ["id", "concept", "question", "description", "examples", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        concept = attrs.get("concept") or self.instance.concept  # type: ignore[union-attr]
        if self.instance is None and not (attrs.get("question") or "").strip():
            attrs["question"] = default_question(concept)
        return attrs

    def create(self, validated_data: dict[str, Any]) -> TaskTemplate:
        examples = validated_data.pop("examples", [])
        template = TaskTemplate.objects.create(**validated_data)
        TemplateExample.objects.bulk_create(TemplateExample(template=template, **e) for e in examples)
        return template

    def update(self, instance: TaskTemplate, validated_data: dict[str, Any]) -> TaskTemplate:
        examples = validated_data.pop("examples", None)
        instance = super().update(instance, validated_data)
        if examples is not None:
            instance.examples.all().delete()
            TemplateExample.objects.bulk_create(TemplateExample(template=instance, **e) for e in examples)
        return instance


class AssessmentItemSerializer(ModelSerializer):
    class Meta:
        model = AssessmentItem
        fields = ["item", "expected"]


class AssessmentSetSerializer(ModelSerializer):
    items = AssessmentItemSerializer(many=True, required=False, max_length=MAX_ASSESSMENT_ITEMS)

    class Meta:
        model = AssessmentSet
        fields = ["id", "concept", "name", "items", "cohorts", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        seen: set[int] = set()
        for entry in attrs.get("items", []):
            if entry["item"].pk in seen:
                raise serializers.ValidationError({"items": f"Item {entry['item'].pk} is listed twice."})
            seen.add(entry["item"].pk)
        return attrs

    def create(self, validated_data: dict[str, Any]) -> AssessmentSet:
        items = validated_data.pop("items", [])
        cohorts = validated_data.pop("cohorts", [])
        assessment = AssessmentSet.objects.create(**validated_data)
        assessment.cohorts.set(cohorts)
        AssessmentItem.objects.bulk_create(AssessmentItem(assessment_set=assessment, **i) for i in items)
        return assessment

    def update(self, instance: AssessmentSet, validated_data: dict[str, Any]) -> AssessmentSet:
        items = validated_data.pop("items", None)
        instance = super().update(instance, validated_data)  # sets cohorts when given
        if items is not None:
            instance.items.all().delete()
            AssessmentItem.objects.bulk_create(AssessmentItem(assessment_set=instance, **i) for i in items)
        return instance


class BuildAssessmentInput(serializers.Serializer[Any]):
    concept = StrictPrimaryKeyRelatedField(queryset=Concept.objects.all())
    name = serializers.CharField(max_length=200)
    size = serializers.IntegerField(min_value=2, max_value=MAX_ASSESSMENT_ITEMS, required=False,
                                    help_text="A balanced draw: size // 2 yes and the rest no labels.")
    items = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False,
                                  max_length=MAX_ASSESSMENT_ITEMS,
                                  help_text="Hand-picked items, each labelled by the expert.")
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("size" in attrs) == ("items" in attrs):
            raise serializers.ValidationError({"size": "Give either size (a balanced draw) or items (hand-picked)."})
        return attrs


class BatchSerializer(ModelSerializer):
    assignment_count = serializers.IntegerField(source="assignments.count", read_only=True)

    class Meta:
        model = Batch
        fields = ["id", "concept", "kind", "round", "selection", "selection_params", "template", "cohort",
                  "assessment_set", "status", "assignment_count", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        concept = attrs.get("concept") or self.instance.concept  # type: ignore[union-attr]
        for field in ("template", "assessment_set"):
            related = attrs.get(field)
            if related is not None and related.concept_id != concept.pk:
                raise serializers.ValidationError({field: "Belongs to another concept."})
        return attrs


class TaskExampleSerializer(serializers.Serializer[TemplateExample]):
    """An example as a worker sees it: the expected answer of a test example is withheld."""

    image_url = serializers.SerializerMethodField()
    note = serializers.CharField()
    is_positive = serializers.SerializerMethodField()

    def get_image_url(self, example: TemplateExample) -> str:
        return image_url(example.item)

    def get_is_positive(self, example: TemplateExample) -> bool | None:
        return None if example.is_test else example.is_positive


def task_of(template: TaskTemplate) -> dict[str, Any]:
    """The task exactly as a worker sees it: question, description, the four answers and
    the examples (a test example without its expected answer). The studio's preview shows
    the same dict."""
    examples = TaskExampleSerializer(template.examples.select_related("item"), many=True).data
    return {"question": template.question, "description": template.description,
            "answers": [{"value": v, "label": str(label)} for v, label in AnswerValue.choices],
            "examples": examples}


class AssignmentSerializer(ModelSerializer):
    """Safe for every reader, workers included: no item keys, no gold, no other answers."""

    assignee = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all())
    image_url = serializers.SerializerMethodField()
    task = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = ["id", "batch", "item", "assignee", "position", "status", "expires_at", "image_url", "task",
                  "created_at"]
        read_only_fields = ["status", "expires_at"]

    def get_image_url(self, assignment: Assignment) -> str:
        return image_url(assignment.item)

    def get_task(self, assignment: Assignment) -> dict[str, Any] | None:
        template = assignment.batch.template
        if template is None:
            return None
        # One task per template per response: a list of a batch's assignments shares it.
        cache = self.context.setdefault("_tasks", {}) if isinstance(self.context, dict) else {}
        if template.pk not in cache:
            cache[template.pk] = task_of(template)
        return dict(cache[template.pk])

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        batch = attrs.get("batch") or self.instance.batch  # type: ignore[union-attr]
        assignee = attrs.get("assignee")
        if assignee is not None and not Membership.objects.filter(
            project_id=batch.concept.project_id, user=assignee, role__in=[Role.WORKER, Role.EXPERT]
        ).exists():
            raise serializers.ValidationError({"assignee": "Not a worker or expert of this project."})
        return attrs


class AnswerSerializer(ModelSerializer):
    worker = serializers.SlugRelatedField(slug_field="username", read_only=True)
    seconds = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=86400)

    class Meta:
        model = Answer
        fields = ["id", "assignment", "worker", "value", "seconds", "client_id", "created_at", "retracted_at"]
        read_only_fields = ["retracted_at"]
        # Idempotency is handled by the service (a replay returns the first answer), so the
        # model's unique constraints must not turn a replay into a validation error here.
        validators: list[Any] = []


class LabelSerializer(ModelSerializer):
    confidence = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)

    class Meta:
        model = Label
        fields = ["id", "item", "concept", "value", "confidence", "source", "method", "created_at", "updated_at"]
        read_only_fields = ["source", "method"]
        validators: list[Any] = []
