"""The scheduled `sweep` handler end to end: real PRAW against the fake Reddit, the table under moto."""

from __future__ import annotations

from typing import Any

import boto3
import prawcore
import pytest
from chalice.test import Client

import app as app_module
from devtools.fake_reddit import INFO_FAULT, FakeRedditServer, load_sample
from tests.conftest import FakeEndpoint
from tests.test_ingestion import make_client as ingestion_client
from tests.test_ingestion import run_cycle


@pytest.fixture(autouse=True)
def no_prawcore_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prawcore.sessions.FiniteRetryStrategy, "_sleep_seconds", lambda self: None)


def make_client(settings: Any, server: FakeRedditServer, endpoint: FakeEndpoint) -> Client:
    client = ingestion_client(settings, server, endpoint)
    services = app_module.services()
    services.sweeper.reserve_ms = 0  # chalice.test's context has 3 s in all
    return client


def sweep(client: Client) -> dict[str, Any]:
    return dict(client.lambda_.invoke("sweep", client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[])).payload)


def test_comments_deleted_on_reddit_leave_the_table_the_api_and_the_counters(
        settings: Any, endpoint: FakeEndpoint) -> None:
    sample = load_sample().comments
    gone = [sample[0]["id"], sample[5]["id"], sample[9]["id"]]
    with FakeRedditServer(sample) as server:
        client = make_client(settings, server, endpoint)
        run_cycle(client, set())
        before = client.http.get("/stats").json_body["total"]
        assert before == len(sample)
        nothing = sweep(client)
        assert (nothing["checked"], nothing["deleted"], nothing["pass_completed"]) == (len(sample), 0, True)
        server.delete_comments(gone[:2])
        server.delete_comments(gone[2:], "[removed]")
        report = sweep(client)
        info = [r for r in server.requests if r.path.rstrip("/") == "/api/info"]
    assert report["deleted"] == 3 and report["reasons"] == {"deleted": 2, "removed": 1}
    assert report["requests"] == 1 and len(info) == 2  # 40 comments: one request a run
    for cid in gone:
        assert client.http.get(f"/comments/{cid}").status_code == 404
    assert client.http.get(f"/comments/{sample[1]['id']}").status_code == 200
    assert client.http.get("/stats").json_body["total"] == before - 3
    listed = client.http.get("/comments?limit=100").json_body["items"]
    assert len(listed) == before - 3 and not {i["comment_id"] for i in listed} & set(gone)


def test_a_reddit_outage_deletes_nothing_and_keeps_the_cursor(settings: Any, endpoint: FakeEndpoint) -> None:
    sample = load_sample().comments
    with FakeRedditServer(sample) as server:
        client = make_client(settings, server, endpoint)
        run_cycle(client, set())
        server.set_fault(INFO_FAULT, 503, times=None)
        report = sweep(client)
        assert report["checked"] == report["deleted"] == 0 and "ServerError" in report["stopped_reason"]
        server.clear_faults()
        assert sweep(client)["checked"] == len(sample)
    assert boto3.client("dynamodb").get_item(TableName="test-table", Key={"comment_id": {"S": "sweep#cursor"}}
                                             )["Item"]["passes"] == {"N": "1"}
