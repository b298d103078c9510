"""The Django half of aggregation: crowd collection on a batch, worker skills, decisions.

- ``Collection``: how a crowd batch collects answers (method, tau, kappa, overlap, budget,
  gold rate, price, lease time, policy, onboarding and pause bars): the settings of
  ``aggregation/engine/policies.py`` for one batch.
- ``CollectionItem``: one item of the batch (real work or a hidden gold), with its
  collection state: answers so far, the posterior of "yes", open or done and why.
- ``WorkerSkill``: a worker's accuracy on one concept's golds (Beta posterior with the
  cohort mean as prior) and their status (onboarding, active, failed, paused).
- ``Decision``: every label the crowd side writes, with the answers and accuracies it was
  computed from; never updated, so a re-aggregation keeps the earlier decisions.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Method(models.TextChoices):
    """Methods the live step can run after every answer (the per-vote methods)."""

    GTX = "gtx", "GTX: one-coin naive Bayes with the workers' gold accuracies"
    MV = "mv", "Majority vote"
    WMV = "wmv", "Accuracy-weighted majority vote"
    SV = "sv", "Soft vote"


class Policy(models.TextChoices):
    THRESHOLD = "threshold", "Ask until confidence >= tau or kappa answers"
    UNCERTAINTY = "uncertainty", "Every item once, then the most uncertain item, until the budget"


class Collection(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        FINISHED = "finished", "Finished"

    batch = models.OneToOneField("labeling.Batch", on_delete=models.CASCADE, related_name="collection")
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.GTX)
    policy = models.CharField(max_length=12, choices=Policy.choices, default=Policy.THRESHOLD)
    tau = models.FloatField(default=0.95, help_text="An item is done when its confidence reaches tau.")
    kappa = models.PositiveSmallIntegerField(default=5, help_text="... or when it holds kappa answers.")
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Answers every item gets before any re-query.")
    budget = models.PositiveIntegerField(null=True, blank=True,
                                         help_text="Work answers this batch may spend (golds not counted).")
    gold_rate = models.FloatField(default=0.1, help_text="Share of leases that are hidden golds.")
    price = models.DecimalField(max_digits=10, decimal_places=4, default=0, help_text="Price per answer.")
    lease_seconds = models.PositiveIntegerField(default=600)
    onboarding = models.PositiveSmallIntegerField(default=10, help_text="Gold items a new worker answers first.")
    pass_bar = models.FloatField(default=0.7, help_text="Onboarding accuracy needed for real work.")
    pause_bar = models.FloatField(default=0.6, help_text="Paused when the 95% interval lies wholly below it.")
    seed = models.PositiveIntegerField(default=0, help_text="Tie-breaking and gold-mixing seed.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    n_golds = models.PositiveIntegerField(default=0, help_text="Gold items of the batch (fixed at creation).")
    spent = models.PositiveIntegerField(default=0, help_text="Work answers stored so far (golds not counted).")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"collection of batch {self.batch_id}"


class CollectionItem(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    item = models.ForeignKey("labeling.Item", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)
    is_gold = models.BooleanField(default=False)
    expected = models.BooleanField(null=True, blank=True, help_text="A gold item's expert label (never shown).")
    n_answers = models.PositiveSmallIntegerField(default=0, help_text="Live answers, don't know and broken included.")
    n_votes = models.PositiveSmallIntegerField(default=0, help_text="Live yes/no answers.")
    posterior_yes = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)
    reason = models.CharField(max_length=12, blank=True,
                              help_text="Why it is done: confident, kappa, no_workers, broken.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["collection_id", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["collection", "item"], name="collection_item_unique")]
        indexes = [
            models.Index(fields=["collection", "is_gold", "status", "position"], name="collection_queue"),
            # The started items of a queue (answered, still open): few, and asked first under
            # the confidence threshold; without it each "next" scanned the whole collection.
            models.Index(fields=["collection", "position"], name="collection_started",
                         condition=models.Q(is_gold=False, status="open", n_answers__gt=0)),
        ]


class WorkerSkill(models.Model):
    class Status(models.TextChoices):
        ONBOARDING = "onboarding", "Onboarding"
        ACTIVE = "active", "Active"
        FAILED = "failed", "Did not pass onboarding"
        PAUSED = "paused", "Paused"

    concept = models.ForeignKey("labeling.Concept", on_delete=models.CASCADE, related_name="worker_skills")
    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skills")
    cohort = models.ForeignKey("labeling.Cohort", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+", help_text="The cohort whose mean is the prior.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ONBOARDING)
    paused_by = models.CharField(max_length=10, blank=True, help_text="'auto' (interval under the bar) or 'manager'.")
    onboarding_seen = models.PositiveSmallIntegerField(default=0)
    onboarding_counted = models.PositiveSmallIntegerField(default=0, help_text="Onboarding yes/no answers.")
    onboarding_correct = models.PositiveSmallIntegerField(default=0)
    gold_answered = models.PositiveIntegerField(default=0, help_text="Yes/no answers on golds (onboarding included).")
    gold_correct = models.PositiveIntegerField(default=0)
    prior_mean = models.FloatField(default=0.5)
    prior_strength = models.FloatField(default=2.0)
    accuracy = models.FloatField(default=0.5, help_text="Beta posterior mean: what aggregation uses.")
    accuracy_low = models.FloatField(default=0.025)
    accuracy_high = models.FloatField(default=0.975)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["concept_id", "worker_id"]
        constraints = [models.UniqueConstraint(fields=["concept", "worker"], name="worker_skill_unique")]

    @property
    def mle(self) -> float | None:
        return self.gold_correct / self.gold_answered if self.gold_answered else None


class Decision(models.Model):
    """One aggregated label as it was decided, with everything it was computed from."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="decisions")
    item = models.ForeignKey("labeling.Item", on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey("labeling.Label", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="decisions")
    method = models.CharField(max_length=20)
    value = models.BooleanField(null=True, help_text="The label decided (null: no vote, e.g. only 'don't know').")
    posterior_yes = models.FloatField(null=True)
    confidence = models.FloatField(null=True)
    n_answers = models.PositiveSmallIntegerField(default=0)
    reason = models.CharField(max_length=12, blank=True)
    inputs = models.JSONField(default=list, help_text="[{answer, worker, value, accuracy}, ...]")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                            help_text="The re-aggregation job that made it (null: the live step).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["collection", "item"], name="decision_item")]
