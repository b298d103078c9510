"""The manager's dashboard in headless Chromium: max opens it from the home page, sees the
expert and crowd curves (Chart.js, from our static files) and the worker table, pauses a
worker and downloads the label export; the items crowd and expert label differently are
listed, and the expert turns one into an example of the instructions, with a note, in
one click from the studio. The evaluation sample was labelled by the crowd and by the
expert: the dashboard and the studio's metrics panel both say the metrics rest on the
expert's labels and show the crowd's estimate beside them with the same difference; the
studio's send form gives an evaluation sample an initial overlap of 2."""

from __future__ import annotations

import csv
import io
import re
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
    expect(concept.get_by_test_id("crowd-batch-row")).to_have_count(2)  # training and evaluation batches
    crowd_evaluation = concept.locator(f"[data-testid=crowd-batch-row][data-batch='{live.seed['crowd_evaluation_batch']}']")
    expect(crowd_evaluation).to_contain_text("evaluation sample")
    expect(crowd_evaluation).to_contain_text("overlap 2")  # the evaluation batch's default

    # Metrics by the labels they rest on: the expert's, the crowd's beside them, their difference.
    evaluations = concept.get_by_test_id("evaluation-row")
    expect(evaluations).to_have_count(3)
    dashboard_crowd: dict[str, tuple[str, str]] = {}
    for row in evaluations.all():
        expect(row).to_have_attribute("data-evaluated-on", "expert")
        expect(row.get_by_test_id("evaluation-rests-on")).to_have_text("expert")
        bias = row.get_by_test_id("evaluation-crowd-bias").inner_text()
        if bias != "–":
            assert re.fullmatch(r"[+−]\d\.\d{3} / [+−]\d\.\d{3}", bias), bias
            cells = row.locator("td")
            dashboard_crowd[cells.nth(1).inner_text()] = (cells.nth(7).inner_text(), bias)
    assert dashboard_crowd, "no model has both an expert and a crowd estimate"

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

    # The studio's metrics panel says the same: which labels each metric rests on, and the
    # crowd's estimate and the difference wherever both exist (as the dashboard shows them).
    expect(expert.get_by_test_id("metrics-row")).to_have_count(4)  # zero-shot, v1, v2, v3
    for name in ("v1", "v2", "v3"):
        row = expert.locator(f"[data-testid=metrics-row][data-model={name}]")
        expect(row).to_have_attribute("data-evaluated-on", "expert")
        expect(row.get_by_test_id("metrics-rests-on")).to_have_text("expert")
        if name in dashboard_crowd:
            crowd_auc_pr, bias = dashboard_crowd[name]
            expect(row.get_by_test_id("metrics-crowd-auc-pr")).to_have_text(crowd_auc_pr)
            expect(row.get_by_test_id("metrics-crowd-bias")).to_have_text(bias)
        else:
            expect(row.get_by_test_id("metrics-crowd-bias")).to_have_text("–")
    expect(expert.get_by_test_id("metrics-table").locator("th")).to_contain_text(["Rests on", "Crowd − expert"])
    studio_batch = expert.locator(f"[data-testid=crowd-batch-row][data-batch='{live.seed['crowd_evaluation_batch']}']")
    expect(studio_batch.get_by_test_id("crowd-batch-collection")).to_contain_text("overlap 2")

    # Sending an evaluation sample: the form's initial overlap follows the source (2 for the
    # evaluation sample, 1 otherwise) until the expert edits it; the pool and k are asked.
    overlap = expert.get_by_test_id("send-overlap")
    expect(overlap).to_have_value("1")
    expect(expert.get_by_test_id("send-k")).to_be_hidden()
    expert.get_by_test_id("send-source").select_option("evaluation")
    expect(overlap).to_have_value("2")
    expect(expert.get_by_test_id("send-k")).to_be_visible()
    expect(expert.get_by_test_id("send-pool")).to_be_visible()
    expert.get_by_test_id("send-source").select_option("random")
    expect(overlap).to_have_value("1")
    overlap.fill("3")
    expert.get_by_test_id("send-source").select_option("evaluation")
    expect(overlap).to_have_value("3")  # an edited value is kept
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
