from django.urls import path
from rest_framework.routers import DefaultRouter

from aggregation import views


def register(router: DefaultRouter) -> None:
    router.register("collections", views.CollectionViewSet)
    router.register("worker-skills", views.WorkerSkillViewSet)
    router.register("decisions", views.DecisionViewSet)


urlpatterns = [
    path("crowd/next/", views.NextTaskView.as_view(), name="crowd-next"),
    path("crowd/work/", views.MyWorkView.as_view(), name="crowd-work"),
]
