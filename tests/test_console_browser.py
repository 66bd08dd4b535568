"""The review console in a real browser: headless Debian Chromium driven by Selenium.

Skipped with a reason when /usr/bin/chromium or /usr/bin/chromedriver is absent (CI installs
both with apt in .ci/run). The app is served by chalice's local server against moto.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice import Response

import app as app_module
from chalicelib.factory import Services
from chalicelib.retry import Unlimited
from tests import browser
from tests.conftest import comment_doc, ndjson, s3_event

XSS = "<img src=x onerror=alert(1)>"
NOW = time.time()


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    browser.require_browser()
    chromium = browser.start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.quit()


@pytest.fixture
def base_url(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    browser.require_browser()
    monkeypatch.setenv("SE_OFFLINE", "true")
    services.processor.reserve_ms = 0
    app_module.set_services(services)
    docs = [
        comment_doc(1, subreddit="samplecity", body="Road work on the bridge again.", created=NOW - 3_600),
        comment_doc(2, subreddit="samplecity", body="Those people are hateful vermin.", created=NOW - 7_200),
        comment_doc(3, subreddit="samplegames", body="They are hateful and should leave.", created=NOW - 90_000),
        comment_doc(4, subreddit="samplegames", body="Patch notes are out.", created=NOW - 200_000),
        comment_doc(5, subreddit="samplecooking", body=XSS, created=NOW - 1_800),
        comment_doc(6, subreddit="samplecooking", body="hateful words about a group", created=NOW - 600),
    ]
    boto3.client("s3").put_object(Bucket="test-bucket", Key="raw/browser.json", Body=ndjson(docs))
    services.processor.process_event(s3_event("test-bucket", "raw/browser.json"), Unlimited())
    with browser.serve(app_module.app) as url:
        yield url
    app_module.set_services(None)


def wait_for(condition: Callable[[], Any], seconds: float = 10.0) -> Any:
    end = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {seconds} s")
        time.sleep(0.05)


def rows(driver: Any) -> list[Any]:
    return list(driver.find_elements("css selector", "#queue li.comment"))


def row_ids(driver: Any) -> list[str]:
    # One script call: rows can be replaced between two WebDriver calls.
    ids: list[str] = driver.execute_script(
        "return [...document.querySelectorAll('#queue li.comment')].map((li) => li.dataset.id)")
    return ids


def open_console(driver: Any, url: str, expected_rows: int) -> None:
    driver.get(url)
    wait_for(lambda: len(row_ids(driver)) == expected_rows and driver.find_element("id", "total-7d").text != "…")


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return dict(json.load(response))


def test_console_lists_the_stored_comments_newest_first(driver: Any, base_url: str) -> None:
    open_console(driver, f"{base_url}/console?label=all&reviewed=all", 6)
    assert row_ids(driver) == ["c00006", "c00005", "c00001", "c00002", "c00003", "c00004"]
    first = rows(driver)[0]
    assert first.find_element("css selector", ".body").text == "hateful words about a group"
    assert first.find_element("css selector", ".subreddit").text == "r/samplecooking"
    assert first.find_element("css selector", ".author").text == "u/user6"
    assert first.find_element("css selector", ".phate").text == "P(hate) 0.90"
    assert first.find_element("css selector", ".model").text == "test/model"
    link = first.find_element("css selector", "a").get_attribute("href")
    assert link == "https://www.reddit.com/r/samplecooking/comments/abc/_/c00006/"
    # Totals: 4 comments in the last 24 h (2 hate), 6 in 7 days (3 hate), drawn as 7 daily bars.
    assert driver.find_element("id", "total-24h").text == "4"
    assert driver.find_element("id", "rate-24h").text == "50.0% hate"
    assert driver.find_element("id", "total-7d").text == "6"
    assert driver.find_element("id", "total-all").text == "6"
    days = driver.find_elements("css selector", "#chart svg g.day")
    assert len(days) == 7
    assert sum(int(d.get_attribute("data-total")) for d in days) == 6
    assert sum(int(d.get_attribute("data-hate")) for d in days) == 3
    assert driver.find_element("id", "offline-banner").is_displayed() is False  # test/model is not offline
    assert driver.execute_script("return window.__violations") == []


def test_a_filter_narrows_the_list_and_lives_in_the_url(driver: Any, base_url: str) -> None:
    open_console(driver, f"{base_url}/console?label=all&reviewed=all", 6)
    box = driver.find_element("id", "f-subreddit")
    box.clear()
    box.send_keys("samplegames")
    driver.find_element("css selector", "#filters button[type=submit]").click()
    wait_for(lambda: row_ids(driver) == ["c00003", "c00004"])
    assert "subreddit=samplegames" in driver.current_url and "label=all" in driver.current_url
    # The flagged queue of that subreddit, opened from a bookmark-style URL.
    open_console(driver, f"{base_url}/console?subreddit=samplegames&label=hate&reviewed=all", 1)
    assert row_ids(driver) == ["c00003"]
    assert driver.find_element("id", "f-subreddit").get_attribute("value") == "samplegames"
    assert driver.find_element("id", "f-label").get_attribute("value") == "hate"
    # A minimum P(hate) keeps only the confident ones: nothate at 0.8 means P(hate) 0.2.
    open_console(driver, f"{base_url}/console?label=all&reviewed=all&min_score=0.5", 3)
    assert row_ids(driver) == ["c00006", "c00002", "c00003"]


def test_reviewing_not_hate_changes_precision_and_leaves_the_unreviewed_queue(driver: Any, base_url: str) -> None:
    # The default view is the review queue: flagged, unreviewed, newest first.
    open_console(driver, f"{base_url}/console", 3)
    assert row_ids(driver) == ["c00006", "c00002", "c00003"]
    assert driver.find_element("id", "precision").text == "–"
    target = rows(driver)[0]
    target.find_element("css selector", "input.note").send_keys("a quote, reported to object to it")
    target.find_element("css selector", "button.review-nothate").click()
    wait_for(lambda: row_ids(driver) == ["c00002", "c00003"])
    wait_for(lambda: driver.find_element("id", "precision").text == "0.0%")
    assert driver.find_element("id", "hate-overturned").text == "1"
    reviews = get_json(f"{base_url}/stats")["reviews"]
    assert reviews["precision"] == 0.0 and reviews["hate_overturned"] == 1
    assert get_json(f"{base_url}/comments/c00006")["review_note"] == "a quote, reported to object to it"

    rows(driver)[0].find_element("css selector", "button.review-hate").click()
    wait_for(lambda: row_ids(driver) == ["c00003"])
    wait_for(lambda: driver.find_element("id", "precision").text == "50.0%")
    # Opened afresh, the unreviewed queue no longer holds them; the reviewed view does.
    open_console(driver, f"{base_url}/console?label=hate&reviewed=false", 1)
    open_console(driver, f"{base_url}/console?label=hate&reviewed=true", 2)
    verdicts = [r.find_element("css selector", ".verdict").text for r in rows(driver)]
    assert verdicts[0].startswith("reviewed: not hate") and verdicts[1].startswith("reviewed: hate")


def test_a_hostile_body_is_shown_as_text_and_runs_nothing(driver: Any, base_url: str) -> None:
    open_console(driver, f"{base_url}/console?label=all&reviewed=all&subreddit=samplecooking", 2)
    hostile = next(r for r in rows(driver) if r.get_attribute("data-id") == "c00005")
    assert hostile.find_element("css selector", ".body").text == XSS
    assert driver.find_elements("css selector", "#queue img") == []
    time.sleep(0.3)  # an onerror handler would have fired by now
    assert driver.execute_script("return window.__alerts") == []
    # Second layer: even markup injected as HTML cannot run its handler under the page's CSP.
    driver.execute_script("const d = document.createElement('div'); d.innerHTML = arguments[0];"
                          "document.body.append(d);", XSS)
    wait_for(lambda: driver.execute_script("return window.__violations.length") > 0)
    assert driver.execute_script("return window.__alerts") == []
    assert any("script-src" in v for v in driver.execute_script("return window.__violations"))


def test_the_offline_model_banner_shows_for_devtools_labels(driver: Any, base_url: str, endpoint: Any,
                                                            services: Services) -> None:
    endpoint.model = "devtools/hate-static-lr-v2"
    doc = comment_doc(7, subreddit="samplecity", body="hateful again", created=NOW - 60)
    boto3.client("s3").put_object(Bucket="test-bucket", Key="raw/offline.json", Body=ndjson([doc]))
    services.processor.process_event(s3_event("test-bucket", "raw/offline.json"), Unlimited())
    open_console(driver, f"{base_url}/console?label=all&reviewed=all", 7)
    banner = driver.find_element("id", "offline-banner")
    assert banner.is_displayed() and "offline stand-in model" in banner.text
    assert driver.find_element("id", "offline-model").text == "devtools/hate-static-lr-v2"


@pytest.fixture
def api_key_app(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    """A fresh app.py imported with API_AUTH=api_key, behind a stand-in for API Gateway's key check."""
    browser.require_browser()
    monkeypatch.setenv("API_AUTH", "api_key")
    logger = logging.getLogger("chalicelib")
    handlers, propagate = list(logger.handlers), logger.propagate
    spec = importlib.util.spec_from_file_location("app_api_key_stage", Path(app_module.__file__))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.set_services(services)
    seen: list[str] = []

    @module.app.middleware("http")
    def gateway(event: Any, get_response: Any) -> Any:
        # API Gateway answers 403 before the function runs when a key-protected route lacks the key.
        route = module.app.routes[event.context["resourcePath"]][event.method]
        key = event.headers.get("x-api-key")
        if key:
            seen.append(key)
        if route.api_key_required and key != "good-key":
            return Response(body={"message": "Forbidden"}, status_code=403)
        return get_response(event)

    with browser.serve(module.app) as url:
        yield url, seen
    logger.handlers[:] = handlers
    logger.propagate = propagate


def test_an_api_key_stage_asks_once_and_sends_the_key(driver: Any, api_key_app: tuple[str, list[str]],
                                                      services: Services) -> None:
    url, seen = api_key_app
    docs = [comment_doc(1, body="hateful thing", created=NOW - 100), comment_doc(2, created=NOW - 50)]
    boto3.client("s3").put_object(Bucket="test-bucket", Key="raw/key.json", Body=ndjson(docs))
    services.processor.process_event(s3_event("test-bucket", "raw/key.json"), Unlimited())
    driver.get(f"{url}/console?label=all&reviewed=all")
    driver.execute_script("sessionStorage.clear()")
    driver.get(f"{url}/console?label=all&reviewed=all")
    form = driver.find_element("id", "key-form")
    wait_for(form.is_displayed)
    assert driver.find_element("id", "console").is_displayed() is False
    form.find_element("id", "api-key").send_keys("wrong-key")
    form.find_element("css selector", "button").click()
    wait_for(lambda: "enter it again" in driver.find_element("id", "error").text)
    assert driver.execute_script("return sessionStorage.length") == 0  # a refused key is not kept
    form.find_element("id", "api-key").send_keys("good-key")
    form.find_element("css selector", "button").click()
    wait_for(lambda: row_ids(driver) == ["c00002", "c00001"])
    # Opened again in the same tab: no second prompt, the key comes from sessionStorage.
    open_console(driver, f"{url}/console?label=hate&reviewed=all", 1)
    assert driver.find_element("id", "key-form").is_displayed() is False
    assert "good-key" not in driver.current_url
    assert set(seen) == {"wrong-key", "good-key"}
    driver.execute_script("sessionStorage.clear()")
