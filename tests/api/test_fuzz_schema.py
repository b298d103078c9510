"""Fuzzing the whole API from its OpenAPI schema (schemathesis): no request, valid or not,
from any role, gets a server error; every refusal is the one error shape.

Every operation of ``/api/schema/`` is discovered from the schema (new endpoints are
fuzzed without a line here). Each one gets ``AGILE_FUZZ_EXAMPLES`` generated requests
(default 20; both schema-valid and invalid ones: schemathesis' positive and negative
modes), each sent with the token of one of the named people (expert owner, other expert,
worker, manager, outsider) or anonymously with whatever credentials were generated,
through Django's full middleware stack, on the suite's database (SQLite, or PostgreSQL
with DATABASE_URL). Hypothesis runs derandomized (the same requests every run) and with
no example database, so two copies of the suite never share state.
``AGILE_FUZZ_REPORT=path.json`` writes the status codes seen per operation and role.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.people import World

EXAMPLES = int(os.environ.get("AGILE_FUZZ_EXAMPLES", "20"))
ROLES = ("ann", "eve", "bob", "max", "oli", "anon")
REPORT: dict[str, Counter[str]] = defaultdict(Counter)


def operations() -> list[Any]:
    import schemathesis
    from drf_spectacular.generators import SchemaGenerator

    schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
    return [result.ok() for result in schema.get_all_operations()]


OPERATIONS = operations()


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    target = os.environ.get("AGILE_FUZZ_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as out:
            json.dump({label: dict(codes) for label, codes in sorted(REPORT.items())}, out, indent=1)


def tokens(world: World) -> dict[str, str]:
    from rest_framework.authtoken.models import Token

    return {role: Token.objects.get_or_create(user=getattr(world, role))[0].key for role in ROLES if role != "anon"}


def send(client: Any, case: Any, token: str | None) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = {k: v for k, v in (kwargs.pop("headers", None) or {}).items() if k.lower() in ("authorization",)}
    cookies = kwargs.pop("cookies", None) or {}
    if token is not None:
        headers = {"Authorization": f"Token {token}"}
        cookies = {}
    prepared = requests.Request(headers=headers, cookies=cookies, **kwargs).prepare()
    path = prepared.url.removeprefix("http://testserver")  # type: ignore[union-attr]
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in prepared.headers.items()
             if k.lower() in ("authorization", "cookie")}
    body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode("utf-8", "surrogatepass")
    return client.generic(case.method.upper(), path, body, content_type=prepared.headers.get("Content-Type", ""),
                          **extra)


@pytest.mark.slow
@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{op.method.upper()} {op.path}" for op in OPERATIONS])
def test_it_answers_every_generated_request_without_a_server_error(world: World, operation: Any) -> None:
    from django.test import Client

    client, keys = Client(raise_request_exception=False), tokens(world)
    label = f"{operation.method.upper()} {operation.path}"

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), role=st.sampled_from(ROLES))
    def fuzz(case: Any, role: str) -> None:
        response = send(client, case, keys.get(role))
        REPORT[label][f"{role}:{response.status_code}"] += 1
        assert response.status_code < 500, (role, case.as_curl_command(), response.content[:500])
        if response.status_code >= 400:
            assert response["Content-Type"].startswith("application/json"), (role, response.content[:300])
            assert set(response.json()) == {"error", "field"}, (role, response.json())

    fuzz()
