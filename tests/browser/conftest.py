"""A real server for browser tests: daphne (HTTP + websockets, in-process jobs) in a
subprocess on its own database, and headless Debian Chromium driven by Playwright.

pytest-django's live server is WSGI only and its SQLite test database lives in memory,
where another process cannot see it; so the server gets a database of its own: a file
under the test's tmp folder on SQLite, or a fresh database on the configured PostgreSQL
server (dropped afterwards). REDIS_URL, when set, is passed on: the server then uses the
Redis channel layer, as in production.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
CIFAR_TEST = ROOT.parent / "shared" / "data" / "cifar10" / "test.zip"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# A small real pool: 30 airplanes and 50 other CIFAR-10 test images.
POOL_CLASSES = {"airplane": 30, "automobile": 10, "bird": 10, "cat": 10, "ship": 10, "truck": 10}
SERVER_START_SECONDS = 180


@dataclass(frozen=True)
class LiveServer:
    url: str
    project: int
    images: Path
    seed: dict[str, Any] = field(default_factory=dict)  # everything the seed printed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def extract_pool(folder: Path) -> Path:
    """``<class>/<nnnn>.jpg`` files from CIFAR-10's test split, read in place from the shared data."""
    wanted = dict(POOL_CLASSES)
    with zipfile.ZipFile(CIFAR_TEST) as archive:
        for name in sorted(archive.namelist()):
            label = name.split("/")[-2] if name.count("/") >= 1 else ""
            if name.endswith(".jpg") and wanted.get(label, 0) > 0:
                wanted[label] -= 1
                target = folder / label / Path(name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    assert not any(wanted.values()), f"CIFAR-10 test split lacks images: {wanted}"
    return folder


def own_database(tmp: Path) -> tuple[str, Callable[[], None]]:
    """A database URL only this server uses, and how to remove it."""
    configured = os.environ.get("DATABASE_URL", "")
    if not configured.startswith("postgres"):
        return f"sqlite:///{tmp / 'db.sqlite3'}", lambda: None
    import psycopg

    name = f"agile_browser_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(configured, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(configured, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunparse(urlparse(configured)._replace(path=f"/{name}")), drop


def wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"The server exited:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"The server did not answer {url}:\n{log.read_text()[-4000:]}") from None
        time.sleep(0.3)


@pytest.fixture
def browser_seed() -> list[str]:
    """The seed module (and its arguments) that prepares the server's database; a test
    module overrides this fixture to seed what it needs."""
    return ["tests.browser.seed"]


@pytest.fixture
def live_server_asgi(tmp_path: Path, browser_seed: list[str]) -> Iterator[LiveServer]:
    images = extract_pool(tmp_path / "images")
    database_url, drop_database = own_database(tmp_path)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url,
           "AGILE_VAR_DIR": str(tmp_path / "var"), "AGILE_POOL_ROOTS": str(tmp_path / "images"),
           "AGILE_BROWSER_IMAGES": str(images), "JOBS_BACKEND": "inprocess", "DEBUG": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("POOLS_DIR", None)
    try:
        seeded = subprocess.run([sys.executable, "-m", *browser_seed], check=False, cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=600)
        assert seeded.returncode == 0, seeded.stderr[-4000:]
        seed = json.loads(seeded.stdout.strip().splitlines()[-1])
        project = seed["project"]
        port = free_port()
        log = tmp_path / "server.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(f"{url}/healthz", server, log)
            yield LiveServer(url=url, project=project, images=images, seed=seed)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=20)
    finally:
        drop_database()


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium; ``new_page(chromium)`` opens a page in a context of its own
    (its own cookies: one person each)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any) -> Any:
    return browser.new_context(viewport={"width": 1280, "height": 900}).new_page()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[object]:
    page = new_page(chromium)
    try:
        yield page
    finally:
        page.context.close()
