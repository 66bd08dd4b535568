"""Deleting stored comments with their counters (moto), and the failure shapes moto cannot produce (Stubber)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib import schema
from chalicelib.deletions import SWEEP_CURSOR_KEY, DeletionStore, ref_of
from chalicelib.errors import StorageError
from chalicelib.models import Comment, LabeledComment, Prediction, StoredRef
from chalicelib.repository import CommentRepository
from chalicelib.retry import NO_WAIT
from chalicelib.reviews import ReviewRequest, ReviewStore
from chalicelib.sweep import SweepCursor
from tests.conftest import REGION, create_table

TABLE = "del-table"


def labeled(i: int, subreddit: str = "sub", label: str = "nothate", author: str = "someone") -> LabeledComment:
    cid = f"d{i:04d}"
    comment = Comment(id=cid, fullname=f"t1_{cid}", subreddit=subreddit, author=author, body=f"text {i}",
                      created_utc=1_790_000_000 + i, permalink=f"/r/{subreddit}/comments/x/_/{cid}/",
                      link_id="t3_x", parent_id="t3_x", ingested_at=1_790_000_500.0)
    return LabeledComment(comment, Prediction(label, 0.9, "test/model"), classified_at=1_790_000_600.0)


STORED = [labeled(i, "sub" if i % 3 else "other", "hate" if i % 4 == 0 else "nothate") for i in range(1, 231)]


@pytest.fixture
def table(aws: None) -> tuple[CommentRepository, DeletionStore]:
    create_table(TABLE)
    client = boto3.client("dynamodb", region_name=REGION)
    repo = CommentRepository(client, TABLE, NO_WAIT)
    repo.put_labeled(STORED, retention_days=30)
    repo.add_counts(STORED)
    return repo, DeletionStore(client, TABLE, retention_days=30, backoff=NO_WAIT, clock=lambda: 1_800_000_000.0)


def test_the_walk_is_oldest_first_and_covers_every_comment_once(table: tuple[CommentRepository, DeletionStore]
                                                                 ) -> None:
    _, store = table
    cursor, seen, pages = store.sweep_cursor(), [], 0
    while True:
        page = store.stored_page(cursor, 100)
        seen += [r.comment_id for r in page.refs]
        pages += 1
        cursor = page.cursor
        if page.wrapped:
            break
    assert sorted(seen) == sorted(x.comment.id for x in STORED) and len(set(seen)) == len(seen)
    # Shard after shard of the feed index, each oldest first (created_utc grows with the id here).
    shards = [schema.index_keys(cid, "sub", "nothate")[schema.FEED_ATTRIBUTE] for cid in seen]
    assert shards == sorted(shards)
    for shard in set(shards):
        mine = [cid for cid, s in zip(seen, shards, strict=True) if s == shard]
        assert mine == sorted(mine)
    assert pages == 3 and cursor == SweepCursor(0, None, 0)


def test_the_cursor_survives_a_save(table: tuple[CommentRepository, DeletionStore]) -> None:
    _, store = table
    page = store.stored_page(SweepCursor(), 50)
    store.save_sweep_cursor(SweepCursor(page.cursor.partition, page.cursor.after, passes=3))
    again = store.sweep_cursor()
    assert again.passes == 3
    first_100 = [r.comment_id for r in store.stored_page(SweepCursor(), 100).refs]
    assert [r.comment_id for r in store.stored_page(again, 2).refs] == first_100[50:52]
    # The cursor is a bookkeeping item: never in an index, never a comment.
    assert table[0].get_comment(SWEEP_CURSOR_KEY) is None


def test_a_deletion_moves_every_counter_once_and_leaves_a_tombstone(table: tuple[CommentRepository, DeletionStore]
                                                                    ) -> None:
    repo, store = table
    hate_in_other = STORED[11]  # i=12: "other", hate
    assert (hate_in_other.comment.subreddit, hate_in_other.prediction.label) == ("other", "hate")
    before_all, before_other, before_sub = repo.stats(), repo.stats("other"), repo.stats("sub")
    refs = store.refs([hate_in_other.comment.id, "nosuchid"])
    assert list(refs) == [hate_in_other.comment.id]
    result = store.delete_comments(list(refs.values()), "deleted")
    assert result.deleted == (hate_in_other.comment.id,) and result.already_gone == ()
    assert repo.stats() == {**before_all, "hate": before_all["hate"] - 1}
    assert repo.stats("other") == {**before_other, "hate": before_other["hate"] - 1}
    assert repo.stats("sub") == before_sub
    assert repo.get_comment(hate_in_other.comment.id) is None  # GET /comments/{id} answers 404
    raw = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=TABLE, Key={"comment_id": {"S": hate_in_other.comment.id}})["Item"]
    assert set(raw) == {"comment_id", "tombstone", "deleted_at", schema.TTL_ATTRIBUTE}  # no text, no author
    assert int(raw[schema.TTL_ATTRIBUTE]["N"]) == 1_800_000_000 + 30 * 86_400
    # A redelivered object finds the id stored already, so it is neither stored nor counted again.
    assert repo.existing_ids([hate_in_other.comment.id]) == {hate_in_other.comment.id}
    # Deleting it again (another sweep, a forget request) does nothing.
    again = store.delete_comments([refs[hate_in_other.comment.id]])
    assert again.deleted == () and again.already_gone == (hate_in_other.comment.id,)
    assert repo.stats() == {**before_all, "hate": before_all["hate"] - 1}
    assert store.refs([hate_in_other.comment.id]) == {}
    walked = [r.comment_id for r in store.stored_page(SweepCursor(), 300).refs]
    assert hate_in_other.comment.id not in walked and len(walked) == len(STORED) - 1


def test_a_stale_label_is_read_again_and_the_right_counter_moves(table: tuple[CommentRepository, DeletionStore]
                                                                  ) -> None:
    repo, store = table
    target = STORED[0]  # nothate in "sub"
    before = repo.stats()
    stale = StoredRef(target.comment.id, "sub", "hate")  # what an old index read said
    assert store.delete_comments([stale]).deleted == (target.comment.id,)
    assert repo.stats() == {**before, "nothate": before["nothate"] - 1}


def test_ref_of_refuses_bookkeeping_items_and_tombstones() -> None:
    assert ref_of({"comment_id": "stats#all", "hate": 3}) is None
    assert ref_of({"comment_id": "x", "tombstone": "deleted"}) is None
    assert ref_of({"comment_id": "x", "kind": "comment", "subreddit": "s", "label": "hate", "model": "m"}) == \
        StoredRef("x", "s", "hate", "m", None)


# -- failure shapes (Stubber) ---------------------------------------------------------------------

REF = StoredRef("abc", "sub", "hate", "m")


def cancelled(*codes: str) -> dict[str, Any]:
    return {"CancellationReasons": [{"Code": c, "Message": "x"} if c != "None" else {"Code": "None"} for c in codes]}


def stubbed() -> tuple[DeletionStore, Stubber]:
    client = boto3.client("dynamodb", region_name=REGION)
    return DeletionStore(client, TABLE, backoff=NO_WAIT), Stubber(client)


def test_a_cancelled_transaction_for_an_item_already_gone_is_nothing_to_do(aws_env: None) -> None:
    store, stub = stubbed()
    stub.add_client_error("transact_write_items", "TransactionCanceledException", "cancelled",
                          modeled_fields=cancelled("ConditionalCheckFailed", "None", "None"),
                          expected_params={"TransactItems": ANY, "ClientRequestToken": ANY})
    stub.add_response("get_item", {}, {"TableName": TABLE, "ConsistentRead": True, "Key": {"comment_id": {"S": "abc"}}})
    with stub:
        assert store.delete_comments([REF]).already_gone == ("abc",)
    stub.assert_no_pending_responses()


def test_a_conflict_is_retried_with_the_same_token(aws_env: None) -> None:
    store, stub = stubbed()
    tokens: list[str] = []
    stub.add_client_error("transact_write_items", "TransactionCanceledException", "cancelled",
                          modeled_fields=cancelled("TransactionConflict", "None", "None"))
    stub.add_client_error("transact_write_items", "TransactionConflictException", "conflict")
    stub.add_response("transact_write_items", {})
    store._client.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: tokens.append(params["ClientRequestToken"]))
    with stub:
        assert store.delete_comments([REF]).deleted == ("abc",)
    assert len(tokens) == 3 and len(set(tokens)) == 1


def test_a_refused_transaction_raises(aws_env: None) -> None:
    store, stub = stubbed()
    stub.add_client_error("transact_write_items", "TransactionCanceledException", "cancelled",
                          modeled_fields=cancelled("None", "ValidationError", "None"))
    with stub, pytest.raises(StorageError, match="ValidationError"):
        store.delete_comments([REF])
    store, stub = stubbed()
    stub.add_client_error("transact_write_items", "ResourceNotFoundException", "no table")
    with stub, pytest.raises(StorageError, match="ResourceNotFoundException"):
        store.delete_comments([REF])


def test_a_conflict_that_never_ends_raises(aws_env: None) -> None:
    store, stub = stubbed()
    for _ in range(NO_WAIT.attempts):
        stub.add_client_error("transact_write_items", "TransactionConflictException", "conflict")
    with stub, pytest.raises(StorageError, match="still refused"):
        store.delete_comments([REF])


def test_a_reviewed_comment_takes_its_verdict_off_the_review_counters(
        table: tuple[CommentRepository, DeletionStore]) -> None:
    _, store = table
    moderators = ReviewStore(boto3.client("dynamodb", region_name=REGION), TABLE, NO_WAIT)
    overturned, confirmed = STORED[3], STORED[7]  # both hate in "sub"
    stale = store.refs([confirmed.comment.id])[confirmed.comment.id]  # read before its review
    assert stale.verdict is None
    moderators.review(overturned.comment.id, ReviewRequest("nothate"), "mod-1")
    moderators.review(confirmed.comment.id, ReviewRequest("hate"), "mod-1")
    before = moderators.figures()
    assert (before["hate_overturned"], before["hate_confirmed"]) == (1, 1)
    ref = store.refs([overturned.comment.id])[overturned.comment.id]
    assert ref.verdict == "nothate" and ref.model == "test/model"
    result = store.delete_comments([ref, stale])
    assert result.deleted == (overturned.comment.id, confirmed.comment.id)
    after = moderators.figures()
    assert (after["hate_overturned"], after["hate_confirmed"]) == (0, 0)
    assert after["models"]["test/model"]["hate_overturned"] == after["models"]["test/model"]["hate_confirmed"] == 0
    # A review of a deleted comment finds nothing (404), and moves no counter.
    assert moderators.review(overturned.comment.id, ReviewRequest("hate"), "mod-2") is None
    assert moderators.figures()["hate_confirmed"] == 0
