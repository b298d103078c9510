"""Network faults a page must survive, injected through Playwright's routing."""

from __future__ import annotations

from typing import Any


def drop_first_answer_response(page: Any) -> list[int]:
    """Let the first answer POST reach the server, then cut the connection before the reply."""
    dropped: list[int] = []

    def handle(route: Any) -> None:
        if route.request.method == "POST" and not dropped:
            dropped.append(route.fetch().status)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/answers/", handle)
    return dropped
