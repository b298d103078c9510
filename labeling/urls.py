from django.urls import path
from rest_framework.routers import DefaultRouter

from labeling import views


def register(router: DefaultRouter) -> None:
    router.register("projects", views.ProjectViewSet)
    router.register("memberships", views.MembershipViewSet)
    router.register("cohorts", views.CohortViewSet)
    router.register("concepts", views.ConceptViewSet)
    router.register("pools", views.PoolViewSet)
    router.register("items", views.ItemViewSet)
    router.register("templates", views.TaskTemplateViewSet)
    router.register("assessment-sets", views.AssessmentSetViewSet)
    router.register("batches", views.BatchViewSet)
    router.register("assignments", views.AssignmentViewSet)
    router.register("answers", views.AnswerViewSet)
    router.register("labels", views.LabelViewSet)
    router.register("jobs", views.JobViewSet)


urlpatterns = [
    path("items/<int:pk>/image/", views.item_image, name="item-image"),
]
