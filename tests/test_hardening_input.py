"""Issue 8: nothing is lost under bad input and faults -- bad input, and replaying what it rejected.

Bad bytes in one S3 object go through the real S3 handler against moto: every line is
stored once or quarantined with a reason, and quarantined lines can be fixed and
replayed with devtools.replay_quarantine. Helpers: tests/hardening_support.py.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
from typing import Any

import boto3
import pytest

from chalicelib.classifier import MAX_MODEL_CHARS
from chalicelib.factory import Services
from chalicelib.records import MAX_STORED_BODY_CHARS
from devtools import replay_quarantine
from tests.conftest import FakeEndpoint, comment_doc, ndjson, s3_event
from tests.hardening_support import BUCKET, classify, good, ids, lines, put, quarantine_lines, stored, summaries

# -- bad input: one S3 object through the real handler --------------------------------------

@dataclasses.dataclass(frozen=True)
class Case:
    data: bytes
    stored: set[str]
    reasons: list[str]  # substrings, in record order
    already: int = 0


NUL_ESCAPED = json.dumps(comment_doc(3, body="before\u0000after")).encode()

BAD_INPUT: dict[str, Case] = {
    "malformed JSON line among good ones": Case(lines(good(1), b'{"id": "m1", "body": ', good(2)),
                                                ids(1, 2), ["malformed JSON"]),
    "invalid UTF-8 bytes": Case(lines(good(1), b'{"id": "u1", "body": "caf\xe9 \xff"}', good(2)),
                                ids(1, 2), ["invalid UTF-8"]),
    "gzip content": Case(gzip.compress(ndjson([comment_doc(i) for i in range(3)])), ids(0, 1, 2), []),
    "corrupt gzip": Case(b"\x1f\x8b\x08\x00garbage-not-deflate", set(), ["corrupt gzip"]),
    "nothing at all": Case(b"", set(), []),
    "only blank lines": Case(b"\n\n   \n\r\n", set(), []),
    "a 1 MB comment body": Case(lines(good(1, body="x" * 1_000_000), good(2)), ids(1, 2), []),
    "a record without id": Case(lines(good(1), b'{"body": "no id here"}'), ids(1), ["missing or invalid id"]),
    "a record without body": Case(lines(good(1), b'{"id": "nb1"}'), ids(1), ["missing body"]),
    "body [deleted] or [removed]": Case(lines(good(1, body="[deleted]"), good(2, body="[removed]"), good(3)),
                                        ids(3), ["deleted or removed", "deleted or removed"]),
    "ids repeated inside one object": Case(lines(good(1), good(2), good(1), good(1, body="edited")),
                                           ids(1, 2), [], already=2),
    "body a number, a list or null": Case(lines(good(1, body=5), good(2, body=["x"]), good(3, body=None),
                                                good(4, body={"t": "x"}), good(5)),
                                          ids(5), ["body is a int", "body is a list", "missing body",
                                                   "body is a dict"]),
    "NUL bytes": Case(lines(good(1), b'{"id": "n1", "body": "a\x00b"}', b"\x00\x00\x00", NUL_ESCAPED),
                      ids(1, 3), ["malformed JSON", "malformed JSON"]),
    "JSON objects concatenated with no newline": Case(good(1) + good(2) + b" " + good(3) + b"\n" + good(4),
                                                      ids(1, 2, 3, 4), []),
    "a bare JSON value instead of an object": Case(lines(b"42", b'"text"', b"null", good(1)), ids(1),
                                                   ["JSON int", "JSON str", "JSON NoneType"]),
}


@pytest.mark.parametrize("name", list(BAD_INPUT))
def test_bad_input_is_stored_once_or_quarantined_with_a_reason(
        name: str, wired: Services, endpoint: FakeEndpoint, caplog: pytest.LogCaptureFixture) -> None:
    case = BAD_INPUT[name]
    key = "raw/2026/11/25/bad-input.json"
    put(key, case.data)
    with caplog.at_level(logging.INFO):
        result = classify(s3_event(BUCKET, key))  # the handler finishes: no exception

    table = stored()
    assert set(table) == case.stored
    quarantined = quarantine_lines(key)
    if case.reasons:
        assert quarantined is not None
        assert len(quarantined) == len(case.reasons)
        for entry, reason in zip(quarantined, case.reasons, strict=True):
            assert reason in entry["reason"]
            assert entry["source"] == f"s3://{BUCKET}/{key}" and isinstance(entry["record"], int) and entry["raw"]
    else:
        assert quarantined is None  # nothing rejected, no file

    # lines in = stored + already stored + quarantined, in the handler result and in one log summary.
    assert result.get("lines_in", 0) == result.get("stored", 0) + result.get("already_stored", 0) \
        + result.get("quarantined", 0)
    assert result.get("stored", 0) == len(case.stored) and result.get("already_stored", 0) == case.already
    assert result.get("quarantined", 0) == len(case.reasons)
    (summary,) = summaries(caplog)
    assert summary["key"] == key and summary["lines_in"] == result.get("lines_in", 0)
    assert summary["stored"] + summary["already_stored"] + summary["quarantined"] == summary["lines_in"]
    # Label counters agree with what is stored.
    assert sum(wired.repository.stats().values()) == len(case.stored)
    # Each stored comment went to the model once, within the model's text bound.
    sent = [t for call in endpoint.calls for t in call]
    assert len(sent) == len(case.stored) and all(len(t) <= MAX_MODEL_CHARS for t in sent)


def test_huge_body_is_truncated_for_the_model_never_rejected(wired: Services, endpoint: FakeEndpoint) -> None:
    captured: list[dict[str, Any]] = []
    original = endpoint.invoke_endpoint

    def spy(**kwargs: Any) -> dict[str, Any]:
        captured.append(json.loads(kwargs["Body"]))
        return original(**kwargs)

    endpoint.invoke_endpoint = spy  # type: ignore[method-assign]
    put("raw/huge.json", lines(good(1, body="hateful " * 125_000)))  # 1 MB
    result = classify(s3_event(BUCKET, "raw/huge.json"))
    assert result["stored"] == 1 and result.get("quarantined", 0) == 0
    (request,) = captured
    assert len(request["inputs"][0]) == MAX_MODEL_CHARS
    assert request["parameters"] == {"truncation": True, "max_length": 512, "batch_size": 8}
    item = stored()["c00001"]
    assert len(item["body"]["S"]) == MAX_STORED_BODY_CHARS and item["label"]["S"] == "hate"


def test_nul_escaped_in_json_is_kept_verbatim(wired: Services) -> None:
    put("raw/nul.json", lines(NUL_ESCAPED))
    classify(s3_event(BUCKET, "raw/nul.json"))
    assert stored()["c00003"]["body"]["S"] == "before\x00after"


def test_every_bad_line_of_one_object_keeps_its_record_number(wired: Services) -> None:
    data = lines(good(1), b"{oops", b'{"id": "a1"}', good(2), b'{"id": "x\xff"}') + good(3) + good(4)
    put("raw/mixed.json", data)
    result = classify(s3_event(BUCKET, "raw/mixed.json"))
    quarantined = quarantine_lines("raw/mixed.json") or []
    assert [q["record"] for q in quarantined] == [2, 3, 5]
    assert quarantined[2]["raw"].startswith("base64:")  # invalid UTF-8 is kept losslessly
    assert (result["lines_in"], result["stored"], result["quarantined"]) == (7, 4, 3)


def test_ids_repeated_across_objects_of_one_event(wired: Services, endpoint: FakeEndpoint,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    put("raw/one.json", ndjson([comment_doc(i) for i in range(4)]))
    put("raw/two.json", ndjson([comment_doc(i) for i in range(2, 6)]))
    with caplog.at_level(logging.INFO):
        result = classify(s3_event(BUCKET, "raw/one.json", "raw/two.json"))
    assert set(stored()) == ids(*range(6))
    assert (result["lines_in"], result["stored"], result["already_stored"]) == (8, 6, 2)
    assert [(s["key"], s["stored"], s["already_stored"]) for s in summaries(caplog)] == [
        ("raw/one.json", 4, 0), ("raw/two.json", 2, 2)]
    assert sum(len(c) for c in endpoint.calls) == 6  # the repeats cost no inference


def test_key_with_spaces_and_non_ascii_quarantines_under_the_decoded_key(wired: Services) -> None:
    key = "raw/2026/11/25/Firehose ünïcode+plus 01.json"
    put(key, lines(good(1), b"{bad"))
    event = s3_event(BUCKET, key)
    assert "%C3%BC" in event["Records"][0]["s3"]["object"]["key"]  # really URL-encoded
    result = classify(event)
    assert result["stored"] == 1
    (entry,) = quarantine_lines(key) or []
    assert entry["source"] == f"s3://{BUCKET}/{key}"


# -- replaying quarantined records ------------------------------------------------------------------


def test_quarantined_lines_can_be_fixed_and_replayed(wired: Services, tmp_path: Any,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    key = "raw/2026/11/25/broken part.json"
    broken = b'{"id": "fx1", "body": "fixed later", "subreddit": "news", "created_utc": 1790000000'
    put(key, lines(good(1), broken, b'{"id": "z\xff"}', good(2, body="[removed]")))
    assert classify(s3_event(BUCKET, key))["quarantined"] == 3
    source = f"s3://{BUCKET}/quarantine/{key}.rejected.jsonl"
    s3 = boto3.client("s3")

    edit = tmp_path / "fix.jsonl"
    assert replay_quarantine.main(["export", source, str(edit), "--reason", "malformed"], s3) == 0
    assert edit.read_bytes() == broken + b"\n"  # only the selected line, byte for byte
    edit.write_bytes(broken + b"}\n" + b'{"id": "still", "body": "[deleted]"}\n')  # one fixed, one hopeless

    assert replay_quarantine.main(["submit", str(edit), "--bucket", BUCKET, "--dry-run"], s3) == 0
    assert len(s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/replay/").get("Contents", [])) == 0
    assert replay_quarantine.main(["submit", str(edit), "--bucket", BUCKET], s3) == 0
    out = capsys.readouterr().out
    assert "still rejected, not submitted: record 2: body deleted or removed on Reddit" in out
    (replayed,) = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/replay/")["Contents"]]
    # The normal S3 handler picks it up like any Firehose object.
    result = classify(s3_event(BUCKET, replayed))
    assert (result["lines_in"], result["stored"]) == (1, 1)
    assert set(stored()) == ids(1) | {"fx1"}

    # Invalid UTF-8 comes back as the original bytes; nothing valid means exit code 1.
    raw = tmp_path / "raw.jsonl"
    assert replay_quarantine.main(["export", source, str(raw), "--records", "3"], s3) == 0
    assert raw.read_bytes() == b'{"id": "z\xff"}\n'
    assert replay_quarantine.main(["submit", str(raw), "--bucket", BUCKET], s3) == 1
