"""The table design of issue #14: sharded keys, exact merged pages, sparse review indexes, partial writes."""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from chalice.test import Client

import app as app_module
from chalicelib import schema
from chalicelib.errors import PartialWriteError
from chalicelib.factory import Services
from chalicelib.models import Comment, CommentQuery, LabeledComment, Prediction
from chalicelib.repository import CommentRepository, to_item
from chalicelib.retry import NO_WAIT, Backoff, Unlimited
from tests.conftest import REGION, base36, comment_doc, create_table, ndjson, s3_event

BASE = 1_790_000_000


def labeled(i: int, subreddit: str = "testsub", created: float | None = None, label: str = "nothate",
            score: float = 0.9) -> LabeledComment:
    cid = f"c{i:05d}"
    comment = Comment(id=cid, fullname=f"t1_{cid}", subreddit=subreddit, author=f"u{i}", body=f"text {i}",
                      created_utc=BASE + i if created is None else created,
                      permalink=f"/r/{subreddit}/comments/abc/_/{cid}/", link_id="t3_abc", parent_id="t3_abc",
                      ingested_at=BASE + 5000.0)
    return LabeledComment(comment, Prediction(label, score, "test/model"), BASE + 6000.0)


@pytest.mark.parametrize("hate_share", [0.05, 0.6])
def test_no_index_key_takes_more_than_a_quarter_of_a_burst(hate_share: float) -> None:
    """1,000 comments created within one hour across 20 subreddits, some far busier than others."""
    rng = random.Random(14)
    subreddits = [f"sub{n:02d}" for n in range(20)]
    weights = [1 / (rank + 1) for rank in range(20)]  # Zipf: the busiest takes ~28 % of the burst
    start_id = int("kq0000", 36)  # consecutive Reddit-like ids: a live burst
    burst = []
    for n in range(1000):
        sub = rng.choices(subreddits, weights)[0]
        label = "hate" if rng.random() < hate_share else "nothate"
        c = labeled(0, sub, created=BASE + rng.uniform(0, 3600), label=label)
        cid = base36(start_id + n)
        comment = Comment(**{**c.comment.__dict__, "id": cid, "fullname": f"t1_{cid}"})
        burst.append(LabeledComment(comment, c.prediction, c.classified_at))
    items = [to_item(x, 30) for x in burst]
    assert Counter(i["subreddit"] for i in items).most_common(1)[0][1] > 250  # the skew is real
    for index, attribute in schema.INDEXES.items():
        per_key = Counter(i[attribute] for i in items if attribute in i)
        if attribute == schema.VERDICT_ATTRIBUTE:
            assert not per_key  # only reviews write that index
            continue
        assert per_key, index
        assert max(per_key.values()) <= 250, (index, per_key.most_common(3))


@pytest.fixture
def repo(aws: None) -> CommentRepository:
    create_table("t")
    return CommentRepository(boto3.client("dynamodb", region_name=REGION), "t", NO_WAIT)


def pages(repo: CommentRepository, q: CommentQuery) -> list[list[dict[str, Any]]]:
    out = []
    start = None
    while True:
        page = repo.query(CommentQuery(**{**q.__dict__, "start_key": start}))
        out.append(page.items)
        if page.last_key is None:
            return out
        start = page.last_key


def test_merged_pages_are_exact_newest_first_with_ties_and_no_empty_last_page(repo: CommentRepository) -> None:
    # 90 comments, 30 distinct creation seconds: ties across every shard.
    stored = [labeled(i, "one" if i % 3 else "two", created=BASE + i // 3,
                      label="hate" if i % 4 == 0 else "nothate") for i in range(90)]
    repo.put_labeled(stored, 0)
    cases = {
        CommentQuery(limit=7): stored,
        CommentQuery(limit=4, label="hate"): [x for x in stored if x.prediction.label == "hate"],
        CommentQuery(limit=5, label="nothate"): [x for x in stored if x.prediction.label == "nothate"],
        CommentQuery(limit=6, subreddit="one"): [x for x in stored if x.comment.subreddit == "one"],
        CommentQuery(limit=3, subreddit="two", label="hate"): [
            x for x in stored if x.comment.subreddit == "two" and x.prediction.label == "hate"],
        CommentQuery(limit=9, since=BASE + 10, until=BASE + 20): [
            x for x in stored if BASE + 10 <= x.comment.created_utc <= BASE + 20],
        CommentQuery(limit=10, until=BASE + 5): [x for x in stored if x.comment.created_utc <= BASE + 5],
    }
    for q, expected in cases.items():
        got = pages(repo, q)
        assert all(len(p) == q.limit for p in got[:-1]) and got[-1], q  # full pages, never an empty last one
        flat = [i for p in got for i in p]
        ids = [i["comment_id"] for i in flat]
        assert sorted(ids) == sorted(x.comment.id for x in expected), q  # each once, none missing
        created = [i["created_utc"] for i in flat]
        assert created == sorted(created, reverse=True), q  # newest first across shards
    # Exactly a page's worth: the only page has no cursor.
    assert repo.query(CommentQuery(limit=90)).last_key is None
    assert repo.query(CommentQuery(limit=89)).last_key is not None


def test_p_hate_is_stored_and_derived_for_old_items(repo: CommentRepository) -> None:
    repo.put_labeled([labeled(1, label="nothate", score=0.52), labeled(2, label="hate", score=0.9)], 0)
    assert repo.get_comment("c00001")["p_hate"] == pytest.approx(0.48)  # type: ignore[index]
    assert repo.get_comment("c00002")["p_hate"] == pytest.approx(0.9)  # type: ignore[index]
    old = {k: v for k, v in to_item(labeled(3, label="hate", score=0.7), 0).items() if k != "p_hate"}
    boto3.resource("dynamodb", region_name=REGION).Table("t").put_item(Item=old)
    assert repo.get_comment("c00003")["p_hate"] == pytest.approx(0.7)  # type: ignore[index]


def review(comment_id: str, verdict: str) -> None:
    """What the review endpoint does, by the contract in chalicelib.schema."""
    names = {"#k": schema.PARTITION_KEY, "#v": schema.VERDICT_ATTRIBUTE, "#a": schema.REVIEWED_AT_ATTRIBUTE,
             "#r": schema.REVIEWER_ATTRIBUTE}
    names.update({f"#q{n}": a for n, a in enumerate(schema.REVIEW_QUEUE_ATTRIBUTES)})
    boto3.client("dynamodb", region_name=REGION).update_item(
        TableName="t", Key={schema.PARTITION_KEY: {"S": comment_id}},
        ConditionExpression="attribute_exists(#k)",
        UpdateExpression="SET #v = :v, #a = :a, #r = :r REMOVE "
        + ", ".join(f"#q{n}" for n in range(len(schema.REVIEW_QUEUE_ATTRIBUTES))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={":v": {"S": verdict}, ":a": {"N": "1790009999"}, ":r": {"S": "mod1"}},
    )


def test_review_queue_reviewed_and_min_score_filters(repo: CommentRepository) -> None:
    stored = [labeled(i, "one" if i % 2 else "two", label="hate" if i % 3 == 0 else "nothate",
                      score=0.6 + (i % 4) / 10) for i in range(24)]
    repo.put_labeled(stored, 0)
    review("c00000", "hate")
    review("c00003", "nothate")
    review("c00001", "hate")  # a nothate the moderator calls hate
    hate = {x.comment.id for x in stored if x.prediction.label == "hate"}

    def ids(**kw: Any) -> set[str]:
        return {i["comment_id"] for p in pages(repo, CommentQuery(limit=4, **kw)) for i in p}

    assert ids(label="hate", reviewed=False) == hate - {"c00000", "c00003"}
    assert ids(label="hate", reviewed=True) == {"c00000", "c00003"}
    assert ids(reviewed=True) == {"c00000", "c00001", "c00003"}
    assert ids(reviewed=False, label="nothate") == {x.comment.id for x in stored} - hate - {"c00001"}
    assert ids(reviewed=False, label="hate", subreddit="one") == {
        x.comment.id for x in stored if x.comment.id in hate and x.comment.subreddit == "one"} - {"c00003"}
    item = repo.get_comment("c00000")
    assert item is not None and item["verdict"] == "hate" and item["reviewer"] == "mod1"
    p_hate = {x.comment.id: schema.p_hate(x.prediction.label, x.prediction.score) for x in stored}
    assert ids(min_score=0.8) == {c for c, p in p_hate.items() if p >= 0.8}
    assert ids(min_score=0.3) == {c for c, p in p_hate.items() if p >= 0.3}
    assert ids(min_score=0.3, subreddit="two") == {
        c for c, p in p_hate.items() if p >= 0.3 and int(c[1:]) % 2 == 0}
    assert ids(label="nothate", min_score=0.6) == set()


def test_every_filter_is_a_query_never_a_scan(repo: CommentRepository) -> None:
    repo.put_labeled([labeled(i, label="hate" if i % 2 else "nothate") for i in range(10)], 0)
    seen: list[str] = []
    client = boto3.client("dynamodb", region_name=REGION)
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: seen.append(model.name))
    counted = CommentRepository(client, "t", NO_WAIT)
    for kw in [{}, {"label": "hate"}, {"label": "nothate"}, {"subreddit": "testsub"}, {"reviewed": True},
               {"reviewed": False}, {"label": "hate", "reviewed": False}, {"min_score": 0.9},
               {"min_score": 0.2}, {"since": BASE, "until": BASE + 3}]:
        counted.query(CommentQuery(limit=3, **kw))  # type: ignore[arg-type]
    assert set(seen) == {"Query"}


class HalfWritingDynamo:
    """moto behind a BatchWriteItem that stores only the first ``take`` requests of each call."""

    def __init__(self, take: int) -> None:
        self._real = boto3.client("dynamodb", region_name=REGION)
        self.take = take
        self._lock = threading.Lock()  # the classifier writes chunks in parallel: the budget is shared

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        (table, requests), = RequestItems.items()
        with self._lock:
            done = requests[: self.take]
            if done:
                self._real.batch_write_item(RequestItems={table: done})
            self.take -= len(done)  # once the budget is spent, every retry is refused: the retries run out
        rest = requests[len(done) :]
        return {"UnprocessedItems": {table: rest} if rest else {}}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_stats_count_exactly_what_a_partial_batch_write_stored(services: Services) -> None:
    services.processor.reserve_ms = 0
    fake = HalfWritingDynamo(take=40)  # 25 a call: the first call, then 15 of the second
    services.repository._client = fake  # type: ignore[assignment]
    boto3.client("s3", region_name=REGION).put_object(
        Bucket="test-bucket", Key="raw/p.json", Body=ndjson([comment_doc(i) for i in range(60)]))
    app_module.set_services(services)
    try:
        with Client(app_module.app) as client:
            with pytest.raises(Exception, match="unprocessed"):
                services.processor.process_event(s3_event("test-bucket", "raw/p.json"), _far_deadline())
            assert client.http.get("/stats").json_body["total"] == 40
            fake.take = 10_000  # DynamoDB recovers; Lambda's retry stores and counts the rest
            services.processor.process_event(s3_event("test-bucket", "raw/p.json"), _far_deadline())
            stats = client.http.get("/stats").json_body
            assert (stats["labels"], stats["total"]) == ({"hate": 0, "nothate": 60}, 60)
            repeated = client.http.get("/comments?label=hate&label=nothate")
            assert repeated.status_code == 400 and "label" in repeated.json_body["Message"]
    finally:
        app_module.set_services(None)


def _far_deadline() -> Unlimited:
    return Unlimited()


def test_partial_batch_write_names_what_was_written_stubber() -> None:
    client = boto3.client("dynamodb", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    items = [labeled(i) for i in range(3)]
    requests = [{"PutRequest": {"Item": r["PutRequest"]["Item"]}} for r in _requests(items)]
    with Stubber(client) as stub:
        stub.add_response("batch_write_item", {"UnprocessedItems": {"t": requests[1:]}},
                          {"RequestItems": {"t": requests}})
        stub.add_response("batch_write_item", {"UnprocessedItems": {"t": requests[2:]}},
                          {"RequestItems": {"t": requests[1:]}})
        stub.add_response("batch_write_item", {"UnprocessedItems": {"t": requests[2:]}},
                          {"RequestItems": {"t": requests[2:]}})
        repo = CommentRepository(client, "t", Backoff(attempts=3, sleep=lambda _s: None))
        with pytest.raises(PartialWriteError) as info:
            repo.put_labeled(items, 0)
        stub.assert_no_pending_responses()
    assert info.value.written == ["c00000", "c00001"]


def _requests(items: list[LabeledComment]) -> list[dict[str, Any]]:
    from chalicelib.repository import _to_ddb  # noqa: PLC0415

    return [{"PutRequest": {"Item": _to_ddb(to_item(x, 0))}} for x in items]


# -- in-place migration of a table of the previous design -------------------------------------

OLD_INDEXES = {"kind-created-index": "kind", "label-created-index": "label", "subreddit-created-index": "subreddit"}


def old_table(name: str) -> None:
    attributes: dict[str, Any] = {"comment_id": "S", "created_utc": "N", **dict.fromkeys(OLD_INDEXES.values(), "S")}
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": v} for k, v in attributes.items()],
        KeySchema=[{"AttributeName": "comment_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": i, "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"},
                                               {"AttributeName": "created_utc", "KeyType": "RANGE"}]}
                                for i, pk in OLD_INDEXES.items()])


def old_item(x: LabeledComment) -> dict[str, Any]:
    """An item as the previous code wrote it: no shard keys, no p_hate."""
    new_only = {*schema.INDEXES.values(), schema.P_HATE_ATTRIBUTE}
    return {k: v for k, v in to_item(x, 0).items() if k not in new_only and v is not None}


class RecordingDynamo:
    def __init__(self) -> None:
        self._real = boto3.client("dynamodb", region_name=REGION)
        self.index_updates: list[list[dict[str, Any]]] = []

    def update_table(self, **kwargs: Any) -> Any:
        self.index_updates.append(kwargs.get("GlobalSecondaryIndexUpdates", []))
        return self._real.update_table(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_an_old_table_is_migrated_in_place_one_index_at_a_time(aws: None) -> None:
    from provisioning import table_migration as migration  # noqa: PLC0415
    from provisioning.table import table_definition  # noqa: PLC0415

    old_table("t")
    stored = [labeled(i, "one" if i % 2 else "two", label="hate" if i % 3 == 0 else "nothate", score=0.8)
              for i in range(40)]
    table = boto3.resource("dynamodb", region_name=REGION).Table("t")
    with table.batch_writer() as batch:
        for x in stored:
            batch.put_item(Item=old_item(x))
        batch.put_item(Item={"comment_id": "stats#all", "hate": 14, "nothate": 26})  # bookkeeping stays as it is
    ddb = RecordingDynamo()
    waits: list[int] = []
    lines: list[str] = []

    first = migration.migrate(ddb, "t", table_definition("t"), wait_ready=lambda: waits.append(len(ddb.index_updates)),
                              say=lines.append)
    assert first.created == list(schema.INDEXES) and first.backfilled == 40
    assert first.kept_obsolete == list(OLD_INDEXES) and not first.deleted  # the deployed code still reads them
    assert all(len(u) == 1 for u in ddb.index_updates)  # one index per UpdateTable ...
    assert waits[: len(schema.INDEXES)] == list(range(len(schema.INDEXES)))  # ... each after the previous is ACTIVE
    repo = CommentRepository(boto3.client("dynamodb", region_name=REGION), "t", NO_WAIT)
    hate = {x.comment.id for x in stored if x.prediction.label == "hate"}
    assert {i["comment_id"] for p in pages(repo, CommentQuery(limit=7)) for i in p} == {x.comment.id for x in stored}
    assert {i["comment_id"] for p in pages(repo, CommentQuery(limit=3, label="hate", reviewed=False))
            for i in p} == hate
    assert {i["comment_id"] for p in pages(repo, CommentQuery(limit=5, min_score=0.5)) for i in p} == hate
    assert {i["comment_id"] for p in pages(repo, CommentQuery(limit=5, subreddit="one")) for i in p} == {
        x.comment.id for x in stored if x.comment.subreddit == "one"}
    assert "p_hate" not in table.get_item(Key={"comment_id": "stats#all"})["Item"]

    # The old code wrote one more item before `chalice deploy`; the next run backfills it, then drops the old indexes.
    table.put_item(Item=old_item(labeled(99, label="hate")))
    second = migration.migrate(ddb, "t", table_definition("t"), wait_ready=lambda: None)
    assert second.created == [] and second.backfilled == 1 and second.deleted == list(OLD_INDEXES)
    assert ddb.index_updates[-3:] == [[{"Delete": {"IndexName": i}}] for i in OLD_INDEXES]
    present = {i["IndexName"] for i in ddb.describe_table(TableName="t")["Table"]["GlobalSecondaryIndexes"]}
    assert present == set(schema.INDEXES)
    assert repo.get_comment("c00099") is not None
    assert "c00099" in {i["comment_id"] for i in repo.query(CommentQuery(label="hate", limit=100)).items}
    third = migration.migrate(ddb, "t", table_definition("t"), wait_ready=lambda: None)
    assert (third.created, third.backfilled, third.deleted) == ([], 0, [])


def test_an_index_whose_key_cannot_change_in_place_is_refused() -> None:
    from provisioning import table_migration as migration  # noqa: PLC0415
    from provisioning.table import table_definition  # noqa: PLC0415

    present = {"GlobalSecondaryIndexes": [{"IndexName": schema.INDEX_FEED, "KeySchema": [
        {"AttributeName": "kind", "KeyType": "HASH"}, {"AttributeName": "created_utc", "KeyType": "RANGE"}]}]}
    with pytest.raises(migration.MigrationRefused, match="cannot change an index key in place"):
        migration.plan(present, table_definition("t"))
