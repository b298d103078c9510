from django.urls import path

from labeling.consumers import ProjectEventsConsumer

websocket_urlpatterns = [
    path("ws/projects/<int:project_id>/", ProjectEventsConsumer.as_asgi()),
]
