"""Each finding of the hardening review (issue 10), tried as it was found: every one gets
the right 4xx in the one error shape (or, where the input was fine, the right answer)."""

from __future__ import annotations

import io
import json
import struct
import uuid
import zlib
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from jobs.models import Job
from labeling.models import Answer, Concept, Item, Membership, Pool, TaskTemplate
from modeling.models import ModelVersion
from tests.people import PASSWORD, World

SHAPE = {"error", "field"}


def assert_error(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == SHAPE, body
    if field is not None:
        assert (body["field"] or "").startswith(field), body
    return body


# --- 3. lone surrogates and NUL bytes, in any text or JSON, at any depth ---------------
@pytest.mark.parametrize(("body", "field"), [
    ('{"project": %(p)d, "name": "tuna", "positive_phrases": ["red \\udfff"]}', "positive_phrases[0]"),
    ('{"project": %(p)d, "name": "tuna\\u0000"}', "name"),
    ('{"project": %(p)d, "name": "ok", "description": "nul \\u0000 inside"}', "description"),
    ('{"project": %(p)d, "name": "\\ud800"}', "name"),
    ('{"project": %(p)d, "name": "ok", "\\udfff": 1}', "body"),
])
def test_it_refuses_bad_text_in_json(api: Any, world: World, body: str, field: str) -> None:
    api.force_authenticate(world.ann)
    response = api.generic("POST", "/api/concepts/", body % {"p": world.fish.pk}, content_type="application/json")
    assert_error(response, 400, field)
    assert Concept.objects.filter(project=world.fish).count() == 1


def test_it_refuses_bad_text_nested_in_a_batch_selection(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    body = json.dumps({"concept": world.concept.pk, "kind": "crowd",
                       "selection_params": {"deep": [{"note": "x"}, {"note": "\udfff"}]}})
    assert_error(api.generic("POST", "/api/batches/", body, content_type="application/json"), 400,
                 "selection_params.deep[1].note")


def test_it_refuses_nul_in_a_form_body_and_a_query(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    response = api.generic("POST", "/api/concepts/", f"project={world.fish.pk}&name=a%00b",
                           content_type="application/x-www-form-urlencoded")
    assert_error(response, 400, "name")
    assert_error(api.get("/api/assignments/?status=open%00"), 400, "status")


def test_it_still_lists_a_row_stored_with_a_lone_surrogate(api: Any, world: World, database_vendor: str) -> None:
    if database_vendor == "postgresql":
        pytest.skip("PostgreSQL never stores a lone surrogate")
    Concept.objects.filter(pk=world.concept.pk).update(positive_phrases=["red \udfff"])  # as before the fix
    api.force_authenticate(world.eve)
    response = api.get(f"/api/concepts/?project={world.fish.pk}")
    assert response.status_code == 200
    assert json.loads(response.content)["results"][0]["positive_phrases"] == ["red \udfff"]


# --- 6. what used to be a 500 -----------------------------------------------------------
def test_it_refuses_deeply_nested_json(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    for depth in (40, 100_000):
        nested = "[" * depth + "]" * depth
        body = f'{{"project": {world.fish.pk}, "name": "x", "positive_phrases": {nested}}}'
        assert_error(api.generic("POST", "/api/concepts/", body, content_type="application/json"), 400)


@pytest.mark.parametrize("query", ["/api/concepts/?project=²", "/api/items/?pool=¹", "/api/batches/?concept=①",
                                   "/api/jobs/?project=²", "/api/model-versions/?concept=③",
                                   "/api/concepts/?project=99999999999999999999999",
                                   "/api/concepts/?limit=99999999999999999999999",
                                   "/api/concepts/?offset=99999999999999999999999",
                                   "/api/concepts/?limit=²"])
def test_it_refuses_odd_numbers_in_queries(api: Any, world: World, query: str) -> None:
    api.force_authenticate(world.max)
    assert_error(api.get(query), 400, query.split("?")[1].split("=")[0])


def test_it_refuses_an_odd_image_size_from_a_worker(api: Any, world: World) -> None:
    api.force_authenticate(world.bob)
    item = world.bob_assignment.item_id
    assert_error(api.get(f"/api/items/{item}/image/?size=²"), 400, "size")
    assert api.get(f"/api/items/{item}/image/?size=128").status_code == 200


@pytest.mark.parametrize("path", ["/api/concepts/99999999999999999999999/", "/api/items/99999999999999999999999/image/",
                                  "/api/concepts/²/", "/api/no-such-thing/"])
def test_it_answers_odd_paths_with_a_json_404(api: Any, world: World, path: str) -> None:
    api.force_authenticate(world.max)
    assert_error(api.get(path), 404)


@pytest.mark.parametrize(("value", "field"), [(1.5, "project"), (True, "project"), ("1.0", "project"),
                                              (2**70, "project"), (-1, "project")])
def test_it_refuses_ids_that_are_not_whole_numbers(api: Any, world: World, value: Any, field: str) -> None:
    api.force_authenticate(world.ann)
    payload = {"project": value, "name": "x"}
    assert_error(api.post("/api/concepts/", payload, format="json"), 400, field)


@pytest.mark.parametrize("row", [-1, 2**40, 2**31])
def test_it_refuses_item_rows_outside_a_store(api: Any, world: World, row: int) -> None:
    api.force_authenticate(world.ann)
    assert_error(api.post("/api/items/", {"pool": world.pool.pk, "key": "n.png", "row": row}, format="json"), 400, "row")
    assert_error(api.patch(f"/api/items/{world.items[0].pk}/", {"row": row}, format="json"), 400, "row")


def test_it_caps_the_examples_of_a_template(api: Any, world: World) -> None:
    api.force_authenticate(world.ann)
    examples = [{"item": world.items[0].pk, "is_positive": True, "note": "x"}] * 10_000
    response = api.post("/api/templates/", {"concept": world.concept.pk, "question": "Q?", "examples": examples},
                        format="json")
    assert_error(response, 400, "examples")
    assert TaskTemplate.objects.filter(concept=world.concept).count() == 1


@pytest.mark.parametrize("name", ["two\nlines", "carriage\rreturn", "tab\there"])
def test_it_refuses_control_characters_in_a_name(api: Any, world: World, name: str) -> None:
    api.force_authenticate(world.ann)
    assert_error(api.post("/api/concepts/", {"project": world.fish.pk, "name": name}, format="json"), 400, "name")
    assert api.post("/api/concepts/", {"project": world.fish.pk, "name": "ok", "description": "two\nlines"},
                    format="json").status_code == 201  # descriptions keep their lines


def test_it_downloads_a_model_whose_name_holds_a_newline(api: Any, world: World, settings: Any) -> None:
    from modeling import storage

    Concept.objects.filter(pk=world.concept.pk).update(name="evil\r\nSet-Cookie: x=1")  # stored before the fix
    version = ModelVersion.objects.get(pk=world.model_version.pk)
    version.pool = world.pool
    version.save()
    path = storage.model_path(version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"weights")
    api.force_authenticate(world.ann)
    response = api.get(f"/api/model-versions/{version.pk}/download/")
    assert response.status_code == 200
    assert "\n" not in response["Content-Disposition"] and "\r" not in response["Content-Disposition"]
    assert "Set-Cookie" not in response.headers or "x=1" not in response.headers.get("Set-Cookie", "")


def test_it_refuses_to_download_a_model_whose_pool_was_deleted(api: Any, world: World) -> None:
    pool = Pool.objects.create(project=world.fish, name="gone", source=world.pool.source)
    ModelVersion.objects.filter(pk=world.model_version.pk).update(pool=pool)
    pool.delete()
    api.force_authenticate(world.ann)
    assert_error(api.get(f"/api/model-versions/{world.model_version.pk}/download/"), 409)


def test_it_refuses_a_pool_source_with_an_overlong_name(api: Any, world: World, tmp_path: Any) -> None:
    api.force_authenticate(world.ann)
    source = str(tmp_path / ("x" * 300) / "images")
    response = api.post("/api/pools/", {"project": world.fish.pk, "name": "long", "source": source}, format="json")
    assert_error(response, 400, "source")


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=xyz"])
def test_it_answers_a_huge_body_with_a_json_413(api: Any, world: World, content_type: str) -> None:
    api.force_authenticate(world.ann)
    body = '{"name": "' + "x" * 10_000_000 + '"}'
    response = api.generic("POST", "/api/concepts/", body, content_type=content_type)
    assert_error(response, 413)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_it_refuses_an_image_too_large_to_decode_for_a_thumbnail(api: Any, world: World) -> None:
    """A 9999 x 9999 PNG passes the embedding guard (100M pixels) but is not decoded for a
    thumbnail: only its header is read."""
    big = world.pool.source + "/tuna/big.png"
    with open(big, "wb") as out:
        out.write(png_header_only(9999, 9999))
    item = Item.objects.create(pool=world.pool, key="tuna/big.png", row=9)
    api.force_authenticate(world.ann)
    assert_error(api.get(f"/api/items/{item.pk}/image/?size=128"), 404)


def test_it_decodes_a_large_jpeg_at_a_reduced_scale() -> None:
    from modeling.engine.images import decode_image

    buffer = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 10, 10)).save(buffer, "JPEG", quality=70)
    image = decode_image("big.jpg", buffer.getvalue(), reduce_to=512, max_decoded_pixels=1_000_000)
    assert 512 <= max(image.size) <= 1000  # 1/4 scale: 1000 x 750, never the 12M pixels


def test_it_bounds_concurrent_thumbnail_decodes(world: World, monkeypatch: Any) -> None:
    import threading

    from labeling import images

    active, peak, changed = [0], [0], threading.Condition()

    def slow_decode(*args: Any, **kwargs: Any) -> Image.Image:
        with changed:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            changed.notify_all()
            # Hold the decode until a second one runs beside it (or 5 s pass): without the
            # bound, every waiting request would pile in here.
            changed.wait_for(lambda: active[0] >= 2, timeout=5)
            changed.wait(timeout=0.2)
            active[0] -= 1
        return Image.new("RGB", (8, 8))

    monkeypatch.setattr(images, "open_image_reduced", slow_decode)
    target = images.thumbnail_path(world.items[0], 128)
    threads = [threading.Thread(target=images._write_thumbnail, args=(world.items[0], 128,
                                                                      target.with_name(f"t{i}.jpg")))
               for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] == 2


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# --- 7. no id oracle ---------------------------------------------------------------------
@pytest.mark.parametrize(("resource", "payload"), [
    ("concepts", lambda w, p: {"project": p, "name": "probe"}),
    ("pools", lambda w, p: {"project": p, "name": "probe", "source": w.pool.source}),
    ("memberships", lambda w, p: {"project": p, "username": "oli", "role": "worker"}),
])
def test_it_answers_a_foreign_project_like_a_missing_one(api: Any, world: World, resource: str, payload: Any) -> None:
    api.force_authenticate(world.oli)  # Fish exists, oli is not in it
    foreign = api.post(f"/api/{resource}/", payload(world, world.fish.pk), format="json")
    missing = api.post(f"/api/{resource}/", payload(world, 10**9), format="json")
    assert foreign.status_code == missing.status_code == 400
    assert foreign.json()["field"] == missing.json()["field"] == "project"
    assert foreign.json()["error"].replace(str(world.fish.pk), "N") == missing.json()["error"].replace(str(10**9), "N")


# --- 4. a replay finds the stored answer, even when it raced the first submission -------
def test_it_returns_the_answer_stored_by_a_concurrent_replay(world: World, monkeypatch: Any) -> None:
    """A replay is looked up only under the assignment's lock: a replay that raced the
    first submission queues on that lock and, once the first committed, finds its answer
    there (not a 409, not a second answer). One lookup per submission, not two."""
    from labeling import services

    client_id = uuid.uuid4()
    first, created = services.submit_answer(worker=world.bob, assignment=world.bob_assignment, value="yes",
                                            client_id=client_id, seconds=1.0)
    real = services._replayed
    calls = []

    def counted(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(services, "_replayed", counted)
    again, created_again = services.submit_answer(worker=world.bob, assignment=world.bob_assignment, value="yes",
                                                  client_id=client_id, seconds=1.0)
    assert created and not created_again and again.pk == first.pk
    assert len(calls) == 1  # the check under the lock, which a queued replay reaches after the commit
    assert Answer.objects.filter(worker=world.bob).count() == 1


# --- 5. medium findings -------------------------------------------------------------------
def test_it_locks_out_a_password_guesser(world: World, settings: Any) -> None:
    client = Client()
    answers = [client.post("/login/", {"username": "ann", "password": "wrong"}).status_code
               for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert answers == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]  # locked at the limit
    locked = client.post("/login/", {"username": "ann", "password": PASSWORD})
    assert locked.status_code == 429  # even the right password, now
    assert b"Too many failed log-ins" in locked.content
    elsewhere = Client(REMOTE_ADDR="10.0.0.9")  # the same person from another address is not locked out
    assert elsewhere.post("/login/", {"username": "ann", "password": PASSWORD}).status_code == 302


def test_it_forgets_failures_after_a_success(world: World) -> None:
    client = Client()
    for _ in range(4):
        client.post("/login/", {"username": "bob", "password": "wrong"})
    assert client.post("/login/", {"username": "bob", "password": PASSWORD}).status_code == 302
    client.logout()
    for _ in range(4):
        client.post("/login/", {"username": "bob", "password": "wrong"})
    assert client.post("/login/", {"username": "bob", "password": PASSWORD}).status_code == 302


@pytest.mark.parametrize(("role", "expected"), [("ann", 202), ("eve", 403), ("max", 202), ("bob", 404)])
def test_it_lets_only_the_starter_or_a_manager_retry_a_job(api: Any, world: World, role: str, expected: int) -> None:
    Job.objects.filter(pk=world.job.pk).update(status=Job.Status.FAILED, error="boom")  # started by ann
    api.force_authenticate(getattr(world, role))
    response = api.post(f"/api/jobs/{world.job.pk}/retry/")
    assert response.status_code == expected, response.json()


def test_it_renders_the_browsable_api_without_forms_or_item_keys(api: Any, world: World) -> None:
    for user in (world.bob, world.ann):
        api.force_authenticate(user)
        for url in ("/api/assignments/", f"/api/assignments/{world.bob_assignment.pk}/", "/api/answers/"):
            page = api.get(url, HTTP_ACCEPT="text/html")
            assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
            html = page.content.decode()
            assert "<select" not in html and 'name="_content"' not in html
            if user is world.bob:
                assert "tuna/" not in html and "other/" not in html  # no item key reaches a worker


def test_it_shows_a_worker_the_sites_404_page_not_the_debug_one(world: World, settings: Any) -> None:
    settings.DEBUG = True
    client = Client()
    client.force_login(world.bob)
    page = client.get(f"/concepts/{world.concept.pk}/studio/")
    assert page.status_code == 404
    assert b"data-testid=\"not-found\"" in page.content and b"URLconf" not in page.content


def test_it_serves_a_favicon(client: Any, db: Any) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code in (200, 301, 302)
    if response.status_code != 200:
        response = client.get(response["Location"])
    assert response.status_code == 200


def test_it_logs_each_django_warning_once(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    from tests.browser.conftest import ROOT

    code = ("import django; django.setup(); import logging; "
            "logging.getLogger('django.request').warning('probe-warning')")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "AGILE_VAR_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("probe-warning") == 1


def test_it_tells_the_studio_whether_the_person_may_work_the_concept(api: Any, world: World) -> None:
    for role, expected in (("ann", True), ("eve", False), ("max", False)):
        api.force_authenticate(getattr(world, role))
        assert api.get(f"/api/concepts/{world.concept.pk}/").json()["can_write"] is expected


def test_it_keeps_memberships_of_other_people_unchanged_by_a_manager_elsewhere(api: Any, world: World) -> None:
    api.force_authenticate(world.oli)
    membership = Membership.objects.get(project=world.fish, user=world.bob)
    assert api.patch(f"/api/memberships/{membership.pk}/", {"role": "manager"}, format="json").status_code == 404
