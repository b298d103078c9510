from django.urls import path
from rest_framework.routers import DefaultRouter

from modeling import crowd_views, studio_views


def register(router: DefaultRouter) -> None:
    router.register("model-versions", studio_views.ModelVersionViewSet)


urlpatterns = [
    path("concepts/<int:pk>/expand/", studio_views.ExpandView.as_view(), name="concept-expand"),
    path("concepts/<int:pk>/train/", studio_views.TrainView.as_view(), name="concept-train"),
    path("concepts/<int:pk>/rounds/", studio_views.RoundView.as_view(), name="concept-rounds"),
    path("concepts/<int:pk>/evaluation-set/", studio_views.EvaluationSetView.as_view(), name="concept-evaluation-set"),
    path("concepts/<int:pk>/metrics/", studio_views.MetricsView.as_view(), name="concept-metrics"),
    path("concepts/<int:pk>/crowd-batches/", crowd_views.CrowdBatchView.as_view(), name="concept-crowd-batches"),
]
