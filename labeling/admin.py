from django.contrib import admin

from labeling import models


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = models.Membership
    extra = 0


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "created_by", "created_at"]
    inlines = [MembershipInline]


class TemplateExampleInline(admin.TabularInline):  # type: ignore[type-arg]
    model = models.TemplateExample
    extra = 0
    raw_id_fields = ["item"]


@admin.register(models.TaskTemplate)
class TaskTemplateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["question", "concept", "created_at"]
    inlines = [TemplateExampleInline]


class AssessmentItemInline(admin.TabularInline):  # type: ignore[type-arg]
    model = models.AssessmentItem
    extra = 0
    raw_id_fields = ["item"]


@admin.register(models.AssessmentSet)
class AssessmentSetAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "concept", "created_at"]
    inlines = [AssessmentItemInline]


@admin.register(models.Concept)
class ConceptAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "project", "owner", "created_at"]


@admin.register(models.Item)
class ItemAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["key", "pool", "row", "flagged_broken"]
    list_filter = ["flagged_broken"]
    search_fields = ["key"]


@admin.register(models.Answer)
class AnswerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["assignment", "worker", "value", "seconds", "created_at", "retracted_at"]
    list_filter = ["value"]
    raw_id_fields = ["assignment"]


@admin.register(models.Assignment)
class AssignmentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["batch", "item", "assignee", "status", "position"]
    list_filter = ["status"]
    raw_id_fields = ["item"]


@admin.register(models.Label)
class LabelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["item", "concept", "value", "confidence", "source", "method"]
    list_filter = ["source", "value"]
    raw_id_fields = ["item"]


for model in (models.Membership, models.Cohort, models.Pool, models.Batch, models.TemplateExample,
              models.AssessmentItem):
    admin.site.register(model)
