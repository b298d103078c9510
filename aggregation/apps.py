from django.apps import AppConfig


class AggregationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "aggregation"
    verbose_name = "Aggregation"

    def ready(self) -> None:
        from aggregation import live  # noqa: F401  (connects the live step to answer_stored)
        from jobs.registry import discover

        discover("aggregation.job_functions")
