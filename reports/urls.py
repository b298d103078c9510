from django.urls import path

from reports import views

urlpatterns = [
    path("projects/<int:pk>/dashboard/", views.ProjectDashboardView.as_view(), name="project-dashboard"),
    path("concepts/<int:pk>/expert-vs-crowd/", views.ExpertVsCrowdView.as_view(), name="concept-expert-vs-crowd"),
    path("concepts/<int:pk>/crowd-quality/", views.CrowdQualityView.as_view(), name="concept-crowd-quality"),
    *[path(f"concepts/<int:pk>/exports/{name}", view.as_view(), name=f"concept-export-{name.replace('.', '-')}")
      for name, view in views.EXPORT_VIEWS.items()],
]
