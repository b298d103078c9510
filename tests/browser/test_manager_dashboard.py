"""The manager's dashboard in headless Chromium: max opens it from the home page, sees the
expert and crowd curves (Chart.js, from our static files) and the worker table, pauses a
worker and downloads the label export; the items crowd and expert label differently are
listed, and the expert turns one into an example of the instructions, with a note, in
one click from the studio."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, new_page
from tests.browser.test_crowd_worker import SHOTS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def browser_seed() -> list[str]:
    return ["tests.browser.seed_dashboard"]


def test_it_shows_expert_and_crowd_curves_pauses_a_worker_and_exports_labels(
    live_server_asgi: LiveServer, chromium: Any
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    live = live_server_asgi
    page = new_page(chromium)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1",
                                                                                 "data:", "blob:")) else None)
    log_in(page, live.url, "max")
    page.get_by_test_id("dashboard-link").click()
    dashboard = page.get_by_test_id("dashboard")
    expect(dashboard).to_have_attribute("data-ready", "1")

    concept = page.get_by_test_id("dashboard-concept")
    expect(concept).to_have_count(1)
    for chart in ("chart-labels", "chart-cost"):
        canvas = concept.get_by_test_id(chart)
        expect(canvas).to_be_visible()
        series = canvas.get_attribute("data-series") or ""
        assert {"Expert", "Crowd", "Expert + crowd", "Zero-shot"} <= set(series.split(",")), series
        assert int(canvas.get_attribute("data-points") or 0) == 3
    assert page.evaluate("typeof window.Chart") == "function"
    rows = concept.get_by_test_id("model-row")
    expect(rows).to_have_count(3)
    for source in ("expert", "crowd", "both"):
        row = concept.locator(f"[data-testid=model-row][data-source={source}]")
        expect(row).to_contain_text("[")  # an AUC-PR with its interval
    expect(concept.get_by_test_id("crowd-batch-row")).to_have_count(1)

    workers = concept.get_by_test_id("worker-table")
    for name in ("bob", "cat", "dan"):
        expect(workers.locator(f"[data-username={name}]")).to_have_count(1)
    bob = workers.locator("[data-username=bob]")
    expect(bob.get_by_test_id("worker-status")).to_have_text("active")
    bob.get_by_test_id("worker-pause").click()
    bob = page.get_by_test_id("worker-table").locator("[data-username=bob]")
    expect(bob.get_by_test_id("worker-status")).to_have_text("paused (manager)")
    expect(bob.get_by_test_id("worker-resume")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "manager-dashboard.png"), full_page=True)

    with page.expect_download() as download_info:
        concept.get_by_test_id("export-labels-csv").click()
    download = download_info.value
    assert download.suggested_filename == "airplane-labels.csv"
    rows_out = list(csv.DictReader(io.StringIO(open(download.path()).read())))
    assert {"value", "posterior_yes", "n_answers", "method", "source"} <= set(rows_out[0])
    assert {row["source"] for row in rows_out} == {"expert", "aggregated"}
    birds = live.seed["birds"]
    for bird in birds:  # the crowd read "airplane" from the name: birds in the sky are planes to them
        expect(concept.get_by_test_id("disagreements").locator(f"li[data-item='{bird}']")).to_have_count(1)
    assert not errors, errors
    assert not outside, outside  # no CDN: every asset from our own server

    expert = new_page(chromium)
    expert.on("pageerror", lambda error: errors.append(str(error)))
    log_in(expert, live.url, "ann")
    expert.goto(f"{live.url}/concepts/{live.seed['concept']}/studio/")
    expect(expert.get_by_test_id("crowd-panel")).to_have_attribute("data-ready", "1")
    for bird in birds:
        expect(expert.locator(f"[data-testid=borderline-row][data-item='{bird}']")).to_have_count(1)
    first = expert.locator(f"[data-testid=borderline-row][data-item='{birds[0]}']")
    first.get_by_test_id("borderline-note").fill("A bird, not an aircraft: wings that flap.")
    first.get_by_test_id("borderline-make-example").click()
    example = expert.locator(f"[data-testid=example-row][data-item='{birds[0]}']")
    expect(example).to_have_attribute("data-answer", "no")
    expect(example.get_by_test_id("example-note")).to_have_value("A bird, not an aircraft: wings that flap.")
    preview = expert.get_by_test_id("template-preview")
    expect(preview.locator("[data-testid=task-example][data-kind=negative]")).to_contain_text("wings that flap")
    expect(expert.locator(f"[data-testid=borderline-row][data-item='{birds[0]}'] "
                          "[data-testid=borderline-make-example]")).to_be_disabled()
    assert not errors, errors
