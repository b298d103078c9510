"""ASGI entry point: HTTP through Django, websockets through channels (session auth)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry loaded)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from aggregation.routing import websocket_urlpatterns as work_urls  # noqa: E402
from jobs.recovery import RecoverOrphansOnStart  # noqa: E402
from labeling.origin import SameOriginValidator  # noqa: E402
from labeling.routing import websocket_urlpatterns as project_urls  # noqa: E402

application = RecoverOrphansOnStart(ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Same origin, port included, and a host of ALLOWED_HOSTS.
        "websocket": SameOriginValidator(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(project_urls + work_urls)))
        ),
    }
))
