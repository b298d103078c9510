""""What does the model need?" in the studio, in headless Chromium: after a first round of
ratings the expert asks, sees one description per class (yes and no) with its weighted
phrases and the images it found, downloads one as a list of images to add to the pool, and
rates the gathered images as a batch."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.test_expert_studio import (
    JOB_MS,
    add_pool,
    define_concept,
    item_truth,
    log_in,
    rate_remaining,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_it_describes_what_the_model_needs_and_rates_the_images_it_found(
        live_server_asgi: LiveServer, browser_page: Any) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    page, live = browser_page, live_server_asgi
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live.url)
    page.get_by_role("link", name="Aircraft").click()
    pool_id = add_pool(page, live.images)
    concept_id = define_concept(page)
    page.get_by_test_id("concept-studio-link").click()
    studio, needs = page.get_by_test_id("studio"), page.get_by_test_id("needs")
    expect(needs).to_have_attribute("data-ready", "1")
    expect(page.get_by_test_id("needs-empty")).to_be_visible()
    truth = item_truth(page, live.url, pool_id)

    # Before any rating the model cannot say what it needs: the page says why.
    page.get_by_test_id("needs-run").click()
    expect(page.get_by_test_id("status")).to_contain_text("at least 2 yes and 2 no")

    page.get_by_test_id("batch-size").fill("20")
    page.get_by_test_id("find-images").click()
    expect(studio).to_have_attribute("data-left", "20", timeout=JOB_MS)
    rate_remaining(page, truth)
    expect(studio).to_have_attribute("data-pending", "0")
    first_batch = studio.get_attribute("data-batch")

    page.get_by_test_id("needs-per-class").fill("5")
    page.get_by_test_id("needs-run").click()
    expect(page.locator("[data-testid=needs-jobs] [data-testid=job][data-kind=genmqd]")).to_be_visible()
    cards = page.get_by_test_id("need")
    expect(cards).to_have_count(2, timeout=JOB_MS)
    expect(cards.nth(0)).to_have_attribute("data-class", "yes")
    expect(cards.nth(1)).to_have_attribute("data-class", "no")
    for index in range(2):
        phrases = cards.nth(index).get_by_test_id("need-phrase")
        expect(phrases).to_have_count(6)
        weights = [float(phrases.nth(i).get_attribute("data-weight")) for i in range(6)]
        assert weights == sorted(weights, reverse=True) and abs(sum(weights) - 1) < 0.01
        expect(cards.nth(index).get_by_test_id("need-image")).to_have_count(5)
    gathered = [int(image.get_attribute("data-item")) for image in page.get_by_test_id("need-image").all()]
    assert len(set(gathered)) == 10

    with page.expect_download() as download_info:
        cards.nth(0).get_by_test_id("need-download").click()
    shopping_list = open(download_info.value.path(), encoding="utf-8").read()
    assert 'Images to add to the pool for "airplane" (answer: yes)' in shopping_list
    first_phrase = cards.nth(0).get_by_test_id("need-phrase").first.locator("span span").first.inner_text()
    assert f"- {first_phrase} (" in shopping_list

    # The gathered images are one batch (selection genmqd), rated like any other.
    batch_id = needs.get_attribute("data-batch")
    assert batch_id and batch_id != first_batch
    page.get_by_test_id("needs-rate").click()
    expect(studio).to_have_attribute("data-batch", batch_id)
    expect(studio).to_have_attribute("data-left", "10")
    queued = [a["item"] for a in page.request.get(f"{live.url}/api/assignments/?batch={batch_id}&limit=50").json()["results"]]
    assert sorted(queued) == sorted(gathered)
    batch = page.request.get(f"{live.url}/api/batches/{batch_id}/").json()
    assert batch["selection"] == "genmqd" and len(batch["selection_params"]["descriptions"]) == 2
    rate_remaining(page, truth)
    expect(studio).to_have_attribute("data-pending", "0")
    labels = page.request.get(f"{live.url}/api/labels/?concept={concept_id}&limit=500").json()["results"]
    assert len(labels) == 30 and all(label["value"] == truth[label["item"]] for label in labels)

    # A later visit shows the same descriptions.
    page.reload()
    expect(page.get_by_test_id("needs")).to_have_attribute("data-ready", "1")
    expect(page.get_by_test_id("need")).to_have_count(2)
    assert errors == []
