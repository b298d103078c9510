from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from aggregation import urls as aggregation_urls
from labeling import urls as labeling_urls
from modeling import urls as modeling_urls

# One router, so /api/ lists every resource; each app registers its own viewsets.
router = DefaultRouter()
labeling_urls.register(router)
aggregation_urls.register(router)
modeling_urls.register(router)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include(labeling_urls.urlpatterns)),
    path("api/", include(aggregation_urls.urlpatterns)),
    path("api/", include(modeling_urls.urlpatterns)),
    path("api/", include(router.urls)),
    path("", include("frontend.urls")),
]
