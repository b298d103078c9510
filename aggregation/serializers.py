"""API shapes of the crowd side. What a worker receives (``LeaseSerializer``) holds no gold,
posterior, expected answer, item key or other worker's answer; the rest is for experts
and managers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from aggregation.collection import LIVE_METHODS, CrowdSettings
from aggregation.engine import METHODS
from aggregation.models import Collection, Decision, Policy, WorkerSkill
from aggregation.progress import collection_progress
from labeling.inputs import MAX_ID, ModelSerializer
from labeling.serializers import AssignmentSerializer

SETTINGS_FIELDS = ["method", "policy", "tau", "kappa", "overlap", "budget", "gold_rate", "price", "lease_seconds",
                   "onboarding", "pass_bar", "pause_bar", "seed"]


class CrowdSettingsSerializer(serializers.Serializer[CrowdSettings]):
    """A crowd batch's collection settings, with the defaults of ``CrowdSettings``."""

    method = serializers.ChoiceField(choices=list(LIVE_METHODS), default="gtx")
    policy = serializers.ChoiceField(choices=Policy.choices, default=Policy.THRESHOLD)
    tau = serializers.FloatField(min_value=0.5, max_value=1.0, default=0.95)
    kappa = serializers.IntegerField(min_value=1, max_value=50, default=5)
    overlap = serializers.IntegerField(min_value=1, max_value=50, default=1)
    budget = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False, allow_null=True,
                                      default=None)
    gold_rate = serializers.FloatField(min_value=0.0, max_value=0.5, default=0.1)
    price = serializers.DecimalField(max_digits=10, decimal_places=4, min_value=Decimal("0"), default=Decimal("0"))
    lease_seconds = serializers.IntegerField(min_value=10, max_value=86_400, default=600)
    onboarding = serializers.IntegerField(min_value=0, max_value=200, default=10)
    pass_bar = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.7)
    pause_bar = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.6)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("overlap", 1) > attrs.get("kappa", 5):
            raise serializers.ValidationError({"overlap": "The initial overlap cannot exceed kappa."})
        return attrs

    def to_settings(self) -> CrowdSettings:
        data = {k: v for k, v in self.validated_data.items() if k in SETTINGS_FIELDS}
        return CrowdSettings(**data)


class CollectionSerializer(ModelSerializer):
    """A crowd batch's settings (editable by its concept's owner or a manager) and progress."""

    concept = serializers.IntegerField(source="batch.concept_id", read_only=True)
    cohort = serializers.IntegerField(source="batch.cohort_id", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Collection
        fields = ["id", "batch", "concept", "cohort", *SETTINGS_FIELDS, "status", "progress", "created_at",
                  "finished_at"]
        read_only_fields = ["batch", "status", "created_at", "finished_at"]
        extra_kwargs = {"method": {"choices": list(LIVE_METHODS)}, "tau": {"min_value": 0.5, "max_value": 1.0},
                        "gold_rate": {"min_value": 0.0, "max_value": 0.5},
                        "pass_bar": {"min_value": 0.0, "max_value": 1.0},
                        "pause_bar": {"min_value": 0.0, "max_value": 1.0},
                        "kappa": {"min_value": 1, "max_value": 50}, "overlap": {"min_value": 1, "max_value": 50},
                        "lease_seconds": {"min_value": 10, "max_value": 86_400}}

    def get_progress(self, collection: Collection) -> dict[str, Any]:
        return collection_progress(collection)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kappa = attrs.get("kappa", getattr(self.instance, "kappa", 5))
        if attrs.get("overlap", getattr(self.instance, "overlap", 1)) > kappa:
            raise serializers.ValidationError({"overlap": "The initial overlap cannot exceed kappa."})
        return attrs


class LeaseSerializer(serializers.Serializer[Any]):
    """The answer to "give me my next task"."""

    status = serializers.CharField()
    message = serializers.CharField()
    onboarding = serializers.DictField(allow_null=True)
    score = serializers.DictField(allow_null=True)
    assignments = AssignmentSerializer(many=True)


class NextInput(serializers.Serializer[Any]):
    batch = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    hold = serializers.IntegerField(min_value=1, max_value=2, default=2,
                                    help_text="Leases to hold: the task on screen and the next one, preloaded.")


class ReaggregateInput(serializers.Serializer[Any]):
    method = serializers.ChoiceField(choices=sorted(METHODS), default="dawid-skene")


class WorkerSkillSerializer(ModelSerializer):
    username = serializers.CharField(source="worker.username", read_only=True)
    mle = serializers.FloatField(read_only=True)

    class Meta:
        model = WorkerSkill
        fields = ["id", "concept", "worker", "username", "cohort", "status", "paused_by", "onboarding_seen",
                  "onboarding_counted", "onboarding_correct", "gold_answered", "gold_correct", "mle",
                  "prior_mean", "accuracy", "accuracy_low", "accuracy_high", "updated_at"]
        read_only_fields = fields


class DecisionSerializer(ModelSerializer):
    batch = serializers.IntegerField(source="collection.batch_id", read_only=True)

    class Meta:
        model = Decision
        fields = ["id", "batch", "item", "label", "method", "value", "posterior_yes", "confidence", "n_answers",
                  "reason", "inputs", "job", "created_at"]
        read_only_fields = fields
