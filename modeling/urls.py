from django.urls import include, path
from rest_framework.routers import DefaultRouter

from modeling import views

router = DefaultRouter()
router.register("model-versions", views.ModelVersionViewSet)
router.register("jobs", views.JobViewSet)

urlpatterns = [path("", include(router.urls))]
