"""The studio's crowd panel in headless Chromium: the expert writes the instructions
(question prefilled, examples picked from her own ratings with notes, one a test), sees
the preview, builds a balanced assessment set and sends the round to the crowd; the batch
appears with its settings, and a worker's task page shows what the preview showed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer, new_page
from tests.browser.test_crowd_worker import log_in, open_task_from_home

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def browser_seed() -> list[str]:
    return ["tests.browser.seed_crowd", "studio"]


def test_it_authors_the_instructions_previews_them_and_sends_a_round_to_the_crowd(
    live_server_asgi: LiveServer, chromium: Any
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    live, seed = live_server_asgi, live_server_asgi.seed
    page = new_page(chromium)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live.url, "ann")
    page.get_by_role("link", name="Aircraft").click()
    page.get_by_test_id("concept-studio-link").click()
    panel = page.get_by_test_id("crowd-panel")
    expect(panel).to_have_attribute("data-ready", "1")

    # A new template starts from the default question and the concept's description.
    expect(page.get_by_test_id("template-question")).to_have_value('Is this an image of "airplane"?')
    expect(page.get_by_test_id("template-description")).to_have_value(
        "Any aircraft with fixed wings, in the air or on the ground.")
    expect(page.get_by_test_id("example-pick")).to_have_count(len(seed["rated"]))
    picks = {value: page.locator(f"[data-testid=example-pick][data-value={value}]") for value in ("yes", "no")}
    choose(page, picks["yes"].nth(0), "Airliner taking off.")
    choose(page, picks["no"].nth(0), "A car, not an aircraft.")
    choose(page, picks["yes"].nth(1), "Is this one a plane?")
    page.get_by_test_id("example-test").nth(2).check()
    page.get_by_test_id("template-save").click()
    preview = page.get_by_test_id("template-preview")
    expect(preview.get_by_test_id("task-question")).to_have_text('Is this an image of "airplane"?')
    expect(preview.locator("[data-testid=task-example][data-kind=positive]")).to_contain_text("Airliner taking off.")
    expect(preview.locator("[data-testid=task-example][data-kind=negative]")).to_contain_text("A car, not an aircraft.")
    test = preview.locator("[data-testid=task-example][data-kind=test]")
    expect(test).to_contain_text("Is this one a plane?")
    expect(test.locator(".crowd-example-answer")).to_have_count(0)  # a test example shows no answer
    template = int(panel.get_attribute("data-template"))

    # Editing the saved template changes it in place; the preview follows.
    page.get_by_test_id("template-description").fill("Fixed-wing aircraft only: no birds, no helicopters.")
    page.get_by_test_id("template-save").click()
    expect(preview.get_by_test_id("task-description")).to_have_text("Fixed-wing aircraft only: no birds, no helicopters.")
    templates = page.request.get(f"{live.url}/api/templates/?concept={seed['concept']}").json()["results"]
    assert [t["id"] for t in templates] == [template]
    assert {(e["item"], e["is_test"]) for e in templates[0]["examples"]} == {
        (int(picks["yes"].nth(0).get_attribute("data-item")), False),
        (int(picks["no"].nth(0).get_attribute("data-item")), False),
        (int(picks["yes"].nth(1).get_attribute("data-item")), True)}

    # Send the round: gtx needs gold items, and the cohort has none attached, so the API
    # refuses and says so next to the assessment set. Building a balanced set fixes it.
    form = page.get_by_test_id("send-form")
    expect(page.get_by_test_id("send-tau")).to_have_value("0.95")  # the API's defaults
    expect(page.get_by_test_id("send-kappa")).to_have_value("5")
    expect(page.get_by_test_id("send-method")).to_have_value("gtx")
    page.get_by_test_id("send-assessment").select_option("")
    page.get_by_test_id("send-submit").click()
    expect(form.locator("[data-error-for=assessment_set]")).to_contain_text("assessment set")
    page.get_by_test_id("gold-size").fill("4")
    page.get_by_test_id("gold-build").click()
    expect(page.get_by_test_id("send-assessment")).not_to_have_value("")
    gold = int(page.get_by_test_id("send-assessment").input_value())
    page.get_by_test_id("send-kappa").fill("3")
    page.get_by_test_id("send-budget").fill("30")
    page.get_by_test_id("send-price").fill("0.02")
    page.get_by_test_id("send-submit").click()
    row = page.get_by_test_id("crowd-batch-row")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-items", str(len(seed["rated"]) - 4))  # golds are never work items
    expect(row).to_have_attribute("data-done", "0")
    batch = int(row.get_attribute("data-batch"))
    collection = page.request.get(f"{live.url}/api/collections/?batch={batch}").json()["results"][0]
    assert (collection["method"], collection["tau"], collection["kappa"], collection["budget"], collection["price"]) \
        == ("gtx", 0.95, 3, 30, "0.0200")
    info = page.request.get(f"{live.url}/api/batches/{batch}/").json()
    assert (info["template"], info["assessment_set"], info["selection"]) == (template, gold, "batch")
    shown = preview_texts(preview)

    # A worker's home lists the new batch; its task page shows what the preview showed.
    worker = new_page(chromium)
    worker.on("pageerror", lambda error: errors.append(str(error)))
    log_in(worker, live.url, "bob")
    open_task_from_home(worker, batch)
    expect(worker.get_by_test_id("crowd-page")).to_have_attribute("data-status", "onboarding")
    assert preview_texts(worker.get_by_test_id("task")) == shown
    assert errors == []


def choose(page: Any, pick: Any, note: str) -> None:
    from playwright.sync_api import expect

    item = pick.get_attribute("data-item")
    pick.click()
    expect(pick).to_have_attribute("aria-pressed", "true")
    row = page.locator(f"[data-testid=example-row][data-item='{item}']")
    expect(row.get_by_test_id("example-note")).to_be_focused()
    page.keyboard.type(note)


def preview_texts(scope: Any) -> dict[str, Any]:
    """The instructions as shown: question, description, and each example's kind and note."""
    examples = scope.get_by_test_id("task-example")
    return {"question": scope.get_by_test_id("task-question").inner_text(),
            "description": scope.get_by_test_id("task-description").inner_text(),
            "examples": sorted((examples.nth(i).get_attribute("data-kind"), examples.nth(i).inner_text())
                               for i in range(examples.count()))}
