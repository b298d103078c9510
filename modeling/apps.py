from django.apps import AppConfig


class ModelingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "modeling"
    verbose_name = "Modeling"

    def ready(self) -> None:
        from jobs.registry import discover

        discover("modeling.job_functions")
        discover("modeling.shard_jobs")
        discover("modeling.genmqd_jobs")
