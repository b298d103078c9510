from django.urls import URLPattern
from rest_framework.routers import DefaultRouter

from modeling import views


def register(router: DefaultRouter) -> None:
    router.register("model-versions", views.ModelVersionViewSet)
    router.register("jobs", views.JobViewSet)


urlpatterns: list[URLPattern] = []
