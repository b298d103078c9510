from django.contrib import admin

from modeling.models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["concept", "number", "round", "source", "label_count", "created_at"]
    list_filter = ["source"]
