from django.apps import AppConfig


class AggregationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "aggregation"
    verbose_name = "Aggregation"
