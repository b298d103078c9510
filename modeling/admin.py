from django.contrib import admin

from modeling.models import Job, ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["concept", "number", "round", "source", "label_count", "created_at"]
    list_filter = ["source"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "project", "kind", "status", "done", "total", "created_at"]
    list_filter = ["status", "kind"]
