"""Moderator reviews: body validation, the transactional write, the counters and POST /comments/{id}/review."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib import reviews, schema
from chalicelib.errors import BodyTooLarge, StorageError, ValidationError
from chalicelib.factory import Services
from chalicelib.retry import NO_WAIT
from chalicelib.reviews import ReviewRequest, ReviewStore
from tests.conftest import REGION, comment_doc, ndjson, s3_event

JSON = {"Content-Type": "application/json"}


def store(client: Any, docs: list[dict[str, Any]], key: str = "raw/r.json") -> None:
    boto3.client("s3").put_object(Bucket="test-bucket", Key=key, Body=ndjson(docs))
    client.lambda_.invoke("classify", s3_event("test-bucket", key))


def post(client: Any, comment_id: str, body: Any) -> Any:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.http.post(f"/comments/{comment_id}/review", headers=JSON, body=raw)


def raw_item(comment_id: str) -> dict[str, Any]:
    item: dict[str, Any] = boto3.client("dynamodb").get_item(
        TableName="test-table", Key={"comment_id": {"S": comment_id}})["Item"]
    return item


# -- the body ---------------------------------------------------------------------------------

def test_parse_review_accepts_verdicts_and_notes() -> None:
    assert reviews.parse_review(b'{"verdict": "nothate"}') == ReviewRequest("nothate", None)
    assert reviews.parse_review('{"verdict": " HATE ", "note": "  slur  "}') == ReviewRequest("hate", "slur")
    assert reviews.parse_review(json.dumps({"verdict": "hate", "note": "x" * 500})).note == "x" * 500
    assert reviews.parse_review('{"verdict": "hate", "note": ""}').note is None


@pytest.mark.parametrize("body, field", [
    (None, "body"), (b"", "body"), (b"not json", "body"), (b"[1, 2]", "body"), (b"\xff\xfe", "body"),
    (b"{}", "verdict"), (b'{"verdict": "maybe"}', "verdict"), (b'{"verdict": 1}', "verdict"),
    (b'{"verdict": "hate", "note": 5}', "note"),
    (json.dumps({"verdict": "hate", "note": "x" * 501}).encode(), "note"),
    (b'{"verdict": "hate", "reviewer": "me"}', "reviewer"),
])
def test_parse_review_names_the_bad_field(body: bytes | None, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        reviews.parse_review(body)
    assert caught.value.parameter == field


def test_parse_review_refuses_an_oversized_body_before_parsing_it() -> None:
    with pytest.raises(BodyTooLarge) as caught:
        reviews.parse_review(b'{"verdict": "hate", "note": "' + b"x" * reviews.MAX_BODY_BYTES + b'"}')
    assert caught.value.limit == reviews.MAX_BODY_BYTES


def test_reviewer_is_the_key_id_or_the_arn_never_the_key() -> None:
    context = {"identity": {"apiKey": "THE-SECRET-KEY", "apiKeyId": "k123", "userArn": "arn:aws:iam::1:user/mod"}}
    assert reviews.reviewer_of("api_key", context) == "k123"
    assert reviews.reviewer_of("iam", context) == "arn:aws:iam::1:user/mod"
    assert reviews.reviewer_of("none", context) is None
    assert reviews.reviewer_of("api_key", {"identity": {"sourceIp": "127.0.0.1"}}) is None
    assert reviews.reviewer_of("api_key", None) is None


# -- counters ---------------------------------------------------------------------------------

def test_counter_delta_moves_between_buckets() -> None:
    assert reviews.counter_delta("hate", "m", None, "hate") == {"hate_confirmed": 1, "m|hate_confirmed": 1}
    assert reviews.counter_delta("hate", "m", "hate", "nothate") == {
        "hate_confirmed": -1, "m|hate_confirmed": -1, "hate_overturned": 1, "m|hate_overturned": 1}
    assert reviews.counter_delta("nothate", None, None, "hate") == {"nothate_overturned": 1}
    assert reviews.counter_delta("hate", "m", "hate", "hate") == {}
    assert reviews.counter_delta("nothate", "m", "nothate", None) == {"nothate_confirmed": -1,
                                                                     "m|nothate_confirmed": -1}


def test_figures_split_models_and_compute_precision() -> None:
    figures = reviews.figures_of({"comment_id": "stats#reviews", "hate_confirmed": 3, "hate_overturned": 1,
                                  "nothate_overturned": 2, "a/b|hate_confirmed": 3, "a/b|hate_overturned": 1,
                                  "c|nothate_confirmed": 4})
    assert figures["precision"] == 0.75
    assert (figures["hate_confirmed"], figures["nothate_confirmed"], figures["nothate_overturned"]) == (3, 0, 2)
    assert figures["models"]["a/b"]["precision"] == 0.75
    assert figures["models"]["c"] == {"hate_confirmed": 0, "hate_overturned": 0, "nothate_confirmed": 4,
                                      "nothate_overturned": 0, "precision": None}
    assert reviews.figures_of({})["precision"] is None


# -- the API ----------------------------------------------------------------------------------

def test_review_stores_the_verdict_and_answers_the_updated_item(client: Any) -> None:
    store(client, [comment_doc(1, body="a hateful remark"), comment_doc(2)])
    response = post(client, "c00001", {"verdict": "nothate", "note": "quoting someone to object"})
    assert response.status_code == 200
    item = response.json_body
    assert item["comment_id"] == "c00001" and item["label"] == "hate"
    assert item["verdict"] == "nothate" and item["review_note"] == "quoting someone to object"
    assert item["reviewer"] is None  # the offline stage has no caller identity
    assert isinstance(item["reviewed_at"], float)
    assert client.http.get("/comments/c00001").json_body == item
    reviews_block = client.http.get("/stats").json_body["reviews"]
    assert reviews_block["hate_overturned"] == 1 and reviews_block["precision"] == 0.0
    assert reviews_block["models"]["test/model"]["hate_overturned"] == 1


def test_a_second_review_replaces_the_first_and_moves_the_counters_once(client: Any) -> None:
    store(client, [comment_doc(i, body="hateful" if i < 3 else "fine") for i in range(5)])
    post(client, "c00000", {"verdict": "hate", "note": "slur"})
    post(client, "c00001", {"verdict": "hate"})
    post(client, "c00003", {"verdict": "hate"})
    first = client.http.get("/stats").json_body["reviews"]
    assert (first["hate_confirmed"], first["hate_overturned"], first["nothate_overturned"]) == (2, 0, 1)
    assert first["precision"] == 1.0

    replaced = post(client, "c00000", {"verdict": "nothate"}).json_body
    assert replaced["verdict"] == "nothate" and replaced["review_note"] is None  # the old note went with it
    again = post(client, "c00000", {"verdict": "nothate"})  # the same verdict twice: no counter moves
    assert again.status_code == 200
    figures = client.http.get("/stats").json_body["reviews"]
    assert (figures["hate_confirmed"], figures["hate_overturned"]) == (1, 1)
    assert figures["precision"] == 0.5
    assert figures["models"] == {"test/model": {key: figures[key] for key in (*reviews.BUCKETS, "precision")}}
    assert "review_note" not in raw_item("c00000")


def test_unknown_ids_get_404_and_store_nothing(client: Any) -> None:
    store(client, [comment_doc(1)])
    assert post(client, "zzz999", {"verdict": "hate"}).status_code == 404
    # Bookkeeping items share the table; they are not comments and cannot be reviewed.
    for key in ("stats#all", "checkpoint#all"):
        assert post(client, key.replace("#", "%23"), {"verdict": "hate"}).status_code in (400, 404)
    assert "Item" not in boto3.client("dynamodb").get_item(
        TableName="test-table", Key={"comment_id": {"S": schema.REVIEW_STATS_KEY}})


@pytest.mark.parametrize("body, status, field", [
    ("not json", 400, "body"),
    ({"verdict": "spam"}, 400, "verdict"),
    ({"verdict": "hate", "note": "n" * 501}, 400, "note"),
    ({"verdict": "hate", "extra": 1}, 400, "extra"),
    ({"verdict": "hate", "note": "n" * (reviews.MAX_BODY_BYTES + 1)}, 413, "bytes"),
])
def test_bad_bodies_are_refused_and_store_nothing(client: Any, body: Any, status: int, field: str) -> None:
    store(client, [comment_doc(1, body="hateful")])
    before = raw_item("c00001")
    response = post(client, "c00001", body)
    assert response.status_code == status
    assert field in response.json_body["Message"] and "Traceback" not in json.dumps(response.json_body)
    assert raw_item("c00001") == before
    assert client.http.get("/stats").json_body["reviews"]["hate_confirmed"] == 0


def test_bad_comment_id_is_400(client: Any) -> None:
    response = post(client, "not-an-id", {"verdict": "hate"})
    assert response.status_code == 400 and "comment_id" in response.json_body["Message"]


# -- DynamoDB failure paths moto cannot produce ----------------------------------------------------

COMMENT = {"comment_id": {"S": "c1"}, "kind": {"S": "comment"}, "label": {"S": "hate"}, "model": {"S": "m"},
           "created_utc": {"N": "1"}, "body": {"S": "text"}, "subreddit": {"S": "s"}}


def cancelled(*codes: str) -> dict[str, Any]:
    return {"service_error_code": "TransactionCanceledException", "service_message": "cancelled",
            "http_status_code": 400,
            "modeled_fields": {"CancellationReasons": [{"Code": c} for c in codes]}}


class Stubbed:
    """A ReviewStore on a stubbed client that also records every TransactWriteItems it sends."""

    def __init__(self) -> None:
        ddb = boto3.client("dynamodb", region_name=REGION)
        self.sent: list[dict[str, Any]] = []
        ddb.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems",
                                 lambda params, **_: self.sent.append(dict(params)))
        self.store = ReviewStore(ddb, "t", NO_WAIT, clock=lambda: 100.0)
        self.stubber = Stubber(ddb)

    def expect_read(self, item: dict[str, Any] | None) -> None:
        self.stubber.add_response("get_item", {"Item": item} if item else {},
                                  {"TableName": "t", "ConsistentRead": True, "Key": {"comment_id": {"S": "c1"}}})


@pytest.fixture
def stubbed() -> Stubbed:
    return Stubbed()


def test_a_review_that_loses_a_race_is_rebuilt_from_a_fresh_read(stubbed: Stubbed) -> None:
    stubbed.expect_read(COMMENT)
    # Another moderator's review landed between our read and our write: the condition failed.
    stubbed.stubber.add_client_error("transact_write_items", **cancelled("ConditionalCheckFailed", "None"))
    stubbed.expect_read({**COMMENT, "verdict": {"S": "hate"}})
    stubbed.stubber.add_response("transact_write_items", {}, {"TransactItems": ANY, "ClientRequestToken": ANY})
    with stubbed.stubber:
        item = stubbed.store.review("c1", ReviewRequest("nothate"), None)
        stubbed.stubber.assert_no_pending_responses()
    assert item is not None and item["verdict"] == "nothate"
    first, second = stubbed.sent
    assert first["TransactItems"][0]["Update"]["ConditionExpression"].endswith("attribute_not_exists(#v)")
    assert first["ClientRequestToken"] != second["ClientRequestToken"]
    update, counters = second["TransactItems"]
    # The second attempt conditions on the verdict it read and moves the counters from it.
    assert update["Update"]["ConditionExpression"].endswith("#v = :old")
    assert update["Update"]["ExpressionAttributeValues"][":old"] == {"S": "hate"}
    changes = {counters["Update"]["ExpressionAttributeNames"][k.replace(":", "#")]: v["N"]
               for k, v in counters["Update"]["ExpressionAttributeValues"].items()}
    assert changes == {"hate_confirmed": "-1", "m|hate_confirmed": "-1", "hate_overturned": "1",
                       "m|hate_overturned": "1"}


def test_a_comment_deleted_during_the_review_is_404(stubbed: Stubbed) -> None:
    stubbed.expect_read(COMMENT)
    stubbed.stubber.add_client_error("transact_write_items", **cancelled("ConditionalCheckFailed", "None"))
    stubbed.expect_read(None)
    with stubbed.stubber:
        assert stubbed.store.review("c1", ReviewRequest("hate"), "k1") is None
        stubbed.stubber.assert_no_pending_responses()


def test_transaction_conflicts_are_retried_then_reported(stubbed: Stubbed) -> None:
    for _ in range(NO_WAIT.attempts):
        stubbed.expect_read(COMMENT)
        stubbed.stubber.add_client_error("transact_write_items", **cancelled("None", "TransactionConflict"))
    with stubbed.stubber, pytest.raises(StorageError, match="still refused"):
        stubbed.store.review("c1", ReviewRequest("hate"), None)
    assert len(stubbed.sent) == NO_WAIT.attempts
    # Same actions, same token: DynamoDB applies a retried transaction at most once.
    assert len({sent["ClientRequestToken"] for sent in stubbed.sent}) == 1


def test_a_validation_cancellation_is_not_retried(stubbed: Stubbed) -> None:
    stubbed.expect_read(COMMENT)
    stubbed.stubber.add_client_error("transact_write_items", **cancelled("ValidationError", "None"))
    with stubbed.stubber, pytest.raises(StorageError, match="ValidationError"):
        stubbed.store.review("c1", ReviewRequest("hate"), None)
    stubbed.stubber.assert_no_pending_responses()


def test_a_throttled_read_is_a_storage_error(stubbed: Stubbed) -> None:
    stubbed.stubber.add_client_error("get_item", service_error_code="ProvisionedThroughputExceededException",
                                     http_status_code=400)
    with stubbed.stubber, pytest.raises(StorageError):
        stubbed.store.review("c1", ReviewRequest("hate"), None)


def test_an_item_without_a_label_is_refused_not_counted(stubbed: Stubbed) -> None:
    stubbed.expect_read({k: v for k, v in COMMENT.items() if k != "label"})
    with stubbed.stubber, pytest.raises(StorageError, match="no label"):
        stubbed.store.review("c1", ReviewRequest("hate"), None)
    assert stubbed.sent == []


def test_a_stale_read_fails_the_condition_in_moto_and_counts_once(services: Services, client: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Two moderators at once, against moto's own TransactionCanceledException and its reasons."""
    store(client, [comment_doc(1, body="hateful")])
    review_store = services.reviews
    post(client, "c00001", {"verdict": "hate"})  # the other moderator, first
    fresh = review_store._read
    stale = dict(fresh("c00001") or {})
    stale.pop(schema.VERDICT_ATTRIBUTE)
    reads = [stale]
    monkeypatch.setattr(review_store, "_read", lambda cid: reads.pop(0) if reads else fresh(cid))
    item = review_store.review("c00001", ReviewRequest("nothate"), None)
    assert item is not None and item["verdict"] == "nothate" and reads == []
    figures = client.http.get("/stats").json_body["reviews"]
    assert (figures["hate_confirmed"], figures["hate_overturned"]) == (0, 1)


def test_a_review_removes_the_review_queue_attributes(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever sparse-index key puts a comment in the unreviewed queue is gone once it is reviewed."""
    queue = schema.REVIEW_QUEUE_ATTRIBUTES or ("review_queue",)
    monkeypatch.setattr(schema, "REVIEW_QUEUE_ATTRIBUTES", queue)
    store(client, [comment_doc(1, body="hateful")])
    boto3.client("dynamodb").update_item(
        TableName="test-table", Key={"comment_id": {"S": "c00001"}},
        UpdateExpression="SET " + ", ".join(f"#q{i} = :q" for i in range(len(queue))),
        ExpressionAttributeNames={f"#q{i}": name for i, name in enumerate(queue)},
        ExpressionAttributeValues={":q": {"S": "q#0"}})
    assert post(client, "c00001", {"verdict": "hate"}).status_code == 200
    item = raw_item("c00001")
    assert not set(queue) & set(item)
    assert item["verdict"] == {"S": "hate"}


def test_when_the_counter_update_fails_the_verdict_is_not_stored_either(client: Any) -> None:
    """Verdict and counters are one transaction: a counter that cannot be added to cancels both."""
    store(client, [comment_doc(1, body="hateful")])
    boto3.client("dynamodb").put_item(TableName="test-table", Item={
        "comment_id": {"S": schema.REVIEW_STATS_KEY}, "hate_confirmed": {"S": "not a number"}})
    before = raw_item("c00001")
    response = post(client, "c00001", {"verdict": "hate"})
    assert response.status_code == 500 and "not a number" not in response.body.decode()
    assert raw_item("c00001") == before
