"""Start the ASGI server for real (daphne, as the demo does) and validate /api/schema/."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_it_serves_a_valid_openapi_schema(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "AGILE_VAR_DIR": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        body = fetch(f"http://127.0.0.1:{port}/api/schema/?format=json", time.monotonic() + 60)
    finally:
        server.terminate()
        server.wait(timeout=10)
    schema = json.loads(body)
    validate(schema)
    assert schema["info"]["title"] == "Agile Labeling API"
    for path in ("/api/answers/", "/api/concepts/", "/api/assignments/{id}/", "/api/answers/{id}/retract/"):
        assert path in schema["paths"], path
