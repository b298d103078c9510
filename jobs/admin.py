from django.contrib import admin

from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "project", "kind", "status", "done", "total", "created_at"]
    list_filter = ["status", "kind"]
