"""The issue's crowd acceptance test, in headless Chromium against the real server: a worker
logs in, passes onboarding and answers with the keyboard only; a second worker, waiting on
"no more work", is asked live about the item the first left unsure (tau 0.99: one answer
never settles it); a third fails onboarding and is told so; the manager then sees the
item's aggregated label in the studio's batch view. Seeded by ``tests.browser.seed_crowd``
(expert labels, an assessment set, a template and a crowd batch, made through the API)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ROOT, LiveServer, new_page
from tests.browser.network import drop_first_answer_response
from tests.browser.seed import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = ROOT / "var" / "screenshots"  # gitignored
KEYS = {"yes": "Y 1", "no": "N 2", "dont_know": "D 3", "broken": "B 4"}
SECRET_WORDS = ("gold", "posterior", "p(yes)", "expected", "accuracy", "bob", "cat", "dan")


@pytest.fixture
def browser_seed() -> list[str]:
    return ["tests.browser.seed_crowd", "worker"]


def test_it_takes_workers_through_onboarding_and_re_asks_what_one_left_unsure(
    live_server_asgi: LiveServer, chromium: Any
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    live, seed = live_server_asgi, live_server_asgi.seed
    truth = {int(k): v for k, v in seed["truth"].items()}
    batch, work = seed["batch"], seed["work"]
    bob, cat, dan = new_page(chromium), new_page(chromium), new_page(chromium)
    errors: list[str] = []
    for page in (bob, cat, dan):
        page.on("pageerror", lambda error: errors.append(str(error)))

    # bob: home lists the work; the task page opens on its instructions (first visit), then
    # two onboarding images, one at a time, answered with Y / N.
    log_in(bob, live.url, "bob")
    open_task_from_home(bob, batch)
    page = bob.get_by_test_id("crowd-page")
    expect(page).to_have_attribute("data-status", "onboarding")
    expect(bob.get_by_test_id("onboarding")).to_contain_text("Onboarding 0 of 2")
    instructions = bob.get_by_test_id("instructions")
    expect(instructions).to_have_attribute("open", "")
    assert_instructions(bob)
    for answered in range(2):
        expect(page).to_have_attribute("data-onboarding-answered", str(answered))
        item = current_item(bob)
        assert item in seed["gold"]
        bob.keyboard.press("y" if truth[item] else "n")
    expect(page).to_have_attribute("data-status", "work")
    expect(bob.get_by_test_id("onboarding")).to_be_hidden()
    first = current_item(bob)
    assert first in work

    # The instructions stay collapsed on later visits; I opens and closes them. The lease
    # on screen is the same after a reload (the server holds it).
    bob.reload()
    expect(page).to_have_attribute("data-status", "work")
    expect(bob.get_by_test_id("instructions")).not_to_have_attribute("open", "")
    bob.keyboard.press("i")
    expect(bob.get_by_test_id("instructions")).to_have_attribute("open", "")
    bob.keyboard.press("i")
    expect(bob.get_by_test_id("instructions")).not_to_have_attribute("open", "")
    assert current_item(bob) == first

    # cat passes onboarding while bob holds both work items: no more work for her, for now.
    log_in(cat, live.url, "cat")
    open_task_from_home(cat, batch)
    cat_page = cat.get_by_test_id("crowd-page")
    for answered in range(2):
        expect(cat_page).to_have_attribute("data-onboarding-answered", str(answered))
        item = current_item(cat)
        cat.keyboard.press("1" if truth[item] else "2")
    expect(cat_page).to_have_attribute("data-status", "no_work")
    expect(cat.get_by_test_id("message")).to_contain_text("No more work")

    # dan answers both onboarding images wrong: his score, and no work.
    log_in(dan, live.url, "dan")
    open_task_from_home(dan, batch)
    dan_page = dan.get_by_test_id("crowd-page")
    for answered in range(2):
        expect(dan_page).to_have_attribute("data-onboarding-answered", str(answered))
        dan.keyboard.press("n" if truth[current_item(dan)] else "y")
    expect(dan_page).to_have_attribute("data-status", "failed")
    expect(dan.get_by_test_id("message")).to_contain_text("0 of 2")
    expect(dan.get_by_test_id("task")).to_be_hidden()
    dan.goto(live.url + "/")
    expect(dan.locator(f"[data-testid=crowd-work-entry][data-batch='{batch}']")).to_have_attribute("data-status", "failed")

    # bob answers his first work item; its reply is lost on the network, so the page sends
    # it again with the same client_id. One answer at tau 0.99 leaves the item unsure: it
    # goes back to the queue, and cat's page hears of it and shows it to her.
    lost = drop_first_answer_response(bob)
    bob.keyboard.press("y" if truth[first] else "n")
    expect(page).to_have_attribute("data-pending", "0")
    assert lost == [201]
    expect(cat_page).to_have_attribute("data-status", "work")
    expect(cat_page).to_have_attribute("data-item", str(first))
    assignments = as_manager(live, bob, f"/api/assignments/?batch={batch}&limit=500")
    cat_work = [a for a in assignments if a["assignee"] == "cat" and a["item"] not in seed["gold"]]
    assert cat_work[0]["item"] == first  # her first work lease: the item bob left unsure
    bob_answers = [a for a in as_manager(live, bob, "/api/answers/?limit=500") if a["worker"] == "bob"]
    assert len(bob_answers) == 3  # the re-sent answer is stored once
    # Time per answer is recorded; the first took the instructions' read-through at least.
    assert all(a["seconds"] is not None for a in bob_answers) and bob_answers[0]["seconds"] > 0

    # cat agrees: kappa (2) answers are in, the item is done and labelled. bob answers the
    # other item "don't know" with D, and has no more work; cat is asked about it next.
    cat.keyboard.press("y" if truth[first] else "n")
    second = next(item for item in work if item != first)
    expect(page).to_have_attribute("data-item", str(second))
    bob.keyboard.press("d")
    expect(page).to_have_attribute("data-status", "no_work")
    expect(page).to_have_attribute("data-pending", "0")
    expect(cat_page).to_have_attribute("data-item", str(second))
    cat.keyboard.press("y" if truth[second] else "n")
    expect(cat_page).to_have_attribute("data-pending", "0")
    SHOTS.mkdir(parents=True, exist_ok=True)
    bob.screenshot(path=str(SHOTS / "crowd-worker.png"), full_page=True)
    for worker_page in (bob, cat, dan):
        assert_nothing_secret(worker_page)

    # The manager sees the batch finished and each item's label, P(yes) and answers.
    manager = new_page(chromium)
    manager.on("pageerror", lambda error: errors.append(str(error)))
    log_in(manager, live.url, "max")
    manager.get_by_role("link", name="Aircraft").click()
    manager.get_by_test_id("concept-studio-link").click()
    row = manager.locator(f"[data-testid=crowd-batch-row][data-batch='{batch}']")
    expect(row).to_have_attribute("data-done", "2")
    expect(row).to_have_attribute("data-status", "finished")
    expect(row.get_by_test_id("crowd-batch-answers")).to_contain_text("4 + 6 gold")  # bob 2 + cat 2; 3 x 2 onboarding
    row.get_by_test_id("crowd-batch-open").click()
    item_row = manager.locator(f"[data-testid=crowd-item][data-item='{first}']")
    expect(item_row).to_have_attribute("data-label", "yes" if truth[first] else "no")
    expect(item_row.get_by_test_id("crowd-item-answers")).to_have_text("2")
    assert 0 < float(item_row.get_by_test_id("crowd-item-p").inner_text()) < 1
    manager.screenshot(path=str(SHOTS / "crowd-manager.png"), full_page=True)
    labels = as_manager(live, manager, f"/api/labels/?concept={seed['concept']}&source=aggregated")
    assert {label["item"]: label["value"] for label in labels} == {first: truth[first], second: truth[second]}
    assert errors == []


def log_in(page: Any, url: str, name: str) -> None:
    from playwright.sync_api import expect

    page.goto(url + "/login/")
    page.get_by_label("Username").press_sequentially(name)
    page.get_by_label("Password").press_sequentially(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.locator(".who")).to_have_text(name)


def open_task_from_home(page: Any, batch: int) -> None:
    """From the home page to the task page with the keyboard: focus the link, Enter."""
    from playwright.sync_api import expect

    entry = page.locator(f"[data-testid=crowd-work-entry][data-batch='{batch}']")
    expect(entry).to_be_visible()
    entry.get_by_test_id("crowd-work-link").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("crowd-page")).to_have_attribute("data-ready", "1")


def assert_instructions(page: Any) -> None:
    """The template as the expert wrote it; the test example without its answer."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("task-question")).to_have_text('Is this an image of "airplane"?')
    expect(page.get_by_test_id("task-description")).to_contain_text("fixed-wing aircraft")
    examples = page.get_by_test_id("task-example")
    expect(examples).to_have_count(3)
    expect(page.locator("[data-testid=task-example][data-kind=positive]")).to_contain_text("A plane on the ground")
    expect(page.locator("[data-testid=task-example][data-kind=negative]")).to_contain_text("Not an aircraft")
    test = page.locator("[data-testid=task-example][data-kind=test]")
    expect(test).to_contain_text("What would you answer here?")
    expect(test.locator(".crowd-example-answer")).to_have_count(0)
    for value, keys in KEYS.items():
        expect(page.get_by_test_id(f"crowd-answer-{value}")).to_have_attribute("aria-keyshortcuts", keys)


def current_item(page: Any) -> int:
    """The item on screen, once its image is shown (as a person would wait for it)."""
    from playwright.sync_api import expect

    root = page.get_by_test_id("crowd-page")
    expect(page.get_by_test_id("crowd-image")).to_be_visible()
    expect(root).to_have_attribute("data-shown", root.get_attribute("data-assignment") or "none")
    return int(root.get_attribute("data-item"))



def as_manager(live: LiveServer, page: Any, path: str) -> list[dict[str, Any]]:
    """Every row of a list endpoint, read as the manager (a request context of its own)."""
    context = page.context.browser.new_context()
    try:
        login = context.request.get(f"{live.url}/login/")
        token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
        assert login.ok
        context.request.post(f"{live.url}/login/", form={"username": "max", "password": PASSWORD,
                                                          "csrfmiddlewaretoken": token},
                             headers={"Referer": f"{live.url}/login/"})
        body = context.request.get(live.url + path).json()
        return list(body["results"] if isinstance(body, dict) else body)
    finally:
        context.close()


def assert_nothing_secret(page: Any) -> None:
    """A worker's page shows no gold, posterior, expected answer, accuracy or other worker."""
    me = page.locator(".who").inner_text()
    text = page.locator("main").inner_text().lower()
    for word in SECRET_WORDS:
        if word != me:
            assert word not in text, word
