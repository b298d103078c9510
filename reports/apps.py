from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """The manager's view: a project's concepts, crowd cost and quality, expert- vs
    crowd-trained models, and the exports. Reads the other apps; writes nothing."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "reports"
    verbose_name = "Reports"
