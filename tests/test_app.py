"""Handlers through chalice.test.Client against the emulated stack."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from chalice.test import Client

import app as app_module
from chalicelib import config
from chalicelib.factory import Services
from tests.conftest import comment_doc, create_table, ndjson, s3_event


def put(key: str, docs: list[dict[str, Any]]) -> None:
    boto3.client("s3").put_object(Bucket="test-bucket", Key=key, Body=ndjson(docs))


def test_s3_event_with_two_records_processes_both(client: Any, endpoint: Any) -> None:
    put("raw/a.json", [comment_doc(i) for i in range(3)])
    put("raw/b.json", [comment_doc(i) for i in range(3, 5)] + [comment_doc(9, body="a hateful remark")])
    result = client.lambda_.invoke("classify", s3_event("test-bucket", "raw/a.json", "raw/b.json"))
    assert result.payload["stored"] == 6
    assert result.payload["label_hate"] == 1
    body = client.http.get("/stats").json_body
    assert (body["labels"], body["total"]) == ({"hate": 1, "nothate": 5}, 6)


def test_comments_listing_filters_and_pages(client: Any) -> None:
    docs = [comment_doc(i, subreddit="one" if i % 2 else "two",
                        body="hateful words" if i % 3 == 0 else "fine") for i in range(30)]
    put("raw/x.json", docs)
    client.lambda_.invoke("classify", s3_event("test-bucket", "raw/x.json"))

    seen: list[str] = []
    cursor = None
    while True:
        url = "/comments?limit=7" + (f"&cursor={cursor}" if cursor else "")
        page = client.http.get(url).json_body
        seen += [i["comment_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"c{i:05d}" for i in reversed(range(30))]  # newest first, each once

    hate = client.http.get("/comments?label=hate&limit=100").json_body["items"]
    assert {i["comment_id"] for i in hate} == {f"c{i:05d}" for i in range(0, 30, 3)}
    assert all(i["label"] == "hate" and i["model"] == "test/model" for i in hate)

    one_hate = client.http.get("/comments?subreddit=one&label=hate&limit=2").json_body
    assert [i["comment_id"] for i in one_hate["items"]] == ["c00027", "c00021"]
    rest = client.http.get(f"/comments?subreddit=one&label=hate&limit=100&cursor={one_hate['next_cursor']}")
    assert [i["comment_id"] for i in rest.json_body["items"]] == ["c00015", "c00009", "c00003"]

    since = client.http.get(f"/comments?since={1_790_000_000 + 25}").json_body["items"]
    assert [i["comment_id"] for i in since] == [f"c{i:05d}" for i in (29, 28, 27, 26, 25)]

    stats = client.http.get("/stats?subreddit=one").json_body
    assert stats["subreddit"] == {"name": "one", "labels": {"hate": 5, "nothate": 10}, "total": 15}


def test_get_comment_and_404(client: Any) -> None:
    put("raw/y.json", [comment_doc(1)])
    client.lambda_.invoke("classify", s3_event("test-bucket", "raw/y.json"))
    item = client.http.get("/comments/c00001").json_body
    assert item["body"] == "comment number 1" and item["label"] == "nothate" and item["score"] == 0.8
    missing = client.http.get("/comments/zzz")
    assert missing.status_code == 404


@pytest.mark.parametrize("url, parameter", [
    ("/comments?label=maybe", "label"),
    ("/comments?limit=0", "limit"),
    ("/comments?limit=101", "limit"),
    ("/comments?limit=ten", "limit"),
    ("/comments?since=-5", "since"),
    ("/comments?subreddit=a%20b", "subreddit"),
    ("/comments?cursor=abc", "cursor"),
    ("/comments?order=asc", "order"),
    ("/comments?label=hate&label=nothate", "label"),
    ("/comments?since=1790000000&limit=5&since=1790000001", "since"),
    ("/comments?until=tomorrow", "until"),
    ("/comments/not-an-id", "comment_id"),
    ("/stats?subreddit=" + "x" * 40, "subreddit"),
])
def test_bad_parameters_get_400_naming_the_parameter(client: Any, url: str, parameter: str) -> None:
    response = client.http.get(url)
    assert response.status_code == 400
    body = response.json_body
    assert parameter in body["Message"]
    assert "Traceback" not in json.dumps(body)


def test_tampered_cursor_is_rejected(client: Any) -> None:
    put("raw/z.json", [comment_doc(i) for i in range(5)])
    client.lambda_.invoke("classify", s3_event("test-bucket", "raw/z.json"))
    cursor = client.http.get("/comments?limit=2").json_body["next_cursor"]
    body, mac = cursor.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    assert client.http.get(f"/comments?limit=2&cursor={forged}").status_code == 400
    # A valid cursor used with other filters is refused too.
    other = client.http.get(f"/comments?limit=2&label=hate&cursor={cursor}")
    assert other.status_code == 400 and "cursor" in other.json_body["Message"]


def test_each_object_run_publishes_cloudwatch_metrics(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    put("raw/m.json", [comment_doc(1), comment_doc(2, body="hateful"), {"id": "x", "body": "[removed]"}])
    capsys.readouterr()
    client.lambda_.invoke("classify", s3_event("test-bucket", "raw/m.json"))
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (emf,) = [d for d in documents if "CommentsIn" in d]
    # Then the hate-rate alarms' inputs, one document per series ("all" at least).
    rates = [d for d in documents if "HateRateLastHour" in d]
    assert len(documents) == 1 + len(rates) and rates[0]["subreddit"] == "all"
    assert all("HateRateBaseline" in d and "CommentsLastHour" in d for d in rates)
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "RedditHateWatch"
    values = (emf["CommentsIn"], emf["CommentsStored"], emf["CommentsQuarantined"], emf["HateLabels"])
    assert values == ([3.0], [2.0], [1.0], [1.0])  # EMF keeps each metric as a list of values


def test_the_reconcile_schedule_classifies_an_object_whose_event_was_lost(client: Any, services: Services) -> None:
    services.reconciler.min_age_seconds = 0  # moto stamps the object "now"
    put("raw/lost.json", [comment_doc(i) for i in range(2)])
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=[])
    report = client.lambda_.invoke("reconcile", event).payload
    assert (report["listed"], report["recovered"], report["stored"], report["needing_attention"]) == (1, 1, 2, 0)
    again = client.lambda_.invoke("reconcile", event).payload
    assert (again["unfinished"], again["recovered"]) == (0, 0)
    assert client.http.get("/stats").json_body["total"] == 2


def test_unconfigured_api_answers_503_saying_what_to_run(aws: None) -> None:
    """`chalice local` by hand with no stage configuration: not a bare 500."""
    app_module.set_services(Services(config.Settings()))
    try:
        with Client(app_module.app) as c:
            for path in ("/stats", "/comments", "/comments/abc123"):
                response = c.http.get(path)
                assert response.status_code == 503, path
                message = response.json_body["Message"]
                assert response.json_body["Code"] == "ServiceUnavailableError"
                assert "missing: table" in message
                assert "make run" in message and "make api" in message
                assert "python deploy_model.py --stage STAGE" in message
    finally:
        app_module.set_services(None)


def test_unreadable_secret_answers_503_without_naming_it(aws: None) -> None:
    create_table("cfg-table")
    secret_id = "reddit-hate/private-stage/api-cursor-key"
    app_module.set_services(Services(config.Settings(table="cfg-table", cursor_secret_id=secret_id)))
    try:
        with Client(app_module.app) as c:
            response = c.http.get("/comments?cursor=eyJr")
        assert response.status_code == 503
        assert response.json_body["Message"] == app_module.MISCONFIGURED
        assert secret_id not in response.body.decode() and "cfg-table" not in response.body.decode()
    finally:
        app_module.set_services(None)
