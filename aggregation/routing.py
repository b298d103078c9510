from django.urls import path

from aggregation.consumers import WorkEventsConsumer

websocket_urlpatterns = [
    path("ws/work/", WorkEventsConsumer.as_asgi()),
]
