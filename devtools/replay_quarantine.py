"""Replay quarantined records: export them for fixing, then re-submit them under raw/.

The S3 handler writes every record it could not store to
``s3://BUCKET/quarantine/<source key>.rejected.jsonl``, one JSON line each:
``{"source", "record", "reason", "raw"}`` (``raw`` is the original text, or
``base64:<bytes>`` when it was not valid UTF-8).

    # 1. write the raw lines (all, or chosen ones) to a local file, one per line
    python -m devtools.replay_quarantine export s3://BUCKET/quarantine/raw/....rejected.jsonl fix.jsonl \\
        [--records 3,7] [--reason "malformed JSON"]
    # 2. edit fix.jsonl (repair or delete lines)
    # 3. upload the lines that now decode as comments as a new object under raw/;
    #    the normal S3 handler classifies them (already stored ids cost nothing)
    python -m devtools.replay_quarantine submit fix.jsonl --bucket BUCKET [--dry-run]

Works against AWS or the offline stack (boto3 honours AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import boto3

from chalicelib import schema
from chalicelib.records import decode

REPLAY_FOLDER = "replay/"


def parse_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://") or "/" not in url[5:]:
        raise ValueError(f"not an s3://bucket/key URL: {url}")
    bucket, key = url[5:].split("/", 1)
    return bucket, key


def read_entries(text: str) -> list[dict[str, Any]]:
    """Quarantine entries, skipping blank lines; a line that is not an entry is an error."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        entry = json.loads(line)
        if not isinstance(entry, dict) or "raw" not in entry:
            raise ValueError(f"line {number} is not a quarantine entry")
        entries.append(entry)
    return entries


def select(entries: Iterable[dict[str, Any]], records: set[int] | None = None,
           reason: str | None = None) -> list[dict[str, Any]]:
    return [e for e in entries
            if (records is None or e.get("record") in records)
            and (reason is None or reason.lower() in str(e.get("reason", "")).lower())]


def raw_bytes(entry: dict[str, Any]) -> bytes:
    raw = str(entry["raw"])
    if raw.startswith("base64:"):
        return base64.b64decode(raw[len("base64:"):])
    return raw.encode()


def check(data: bytes) -> tuple[bytes, list[str]]:
    """The lines that decode as comments (newline-terminated), and the reasons for the rest."""
    decoded = decode(data)
    good = b"".join(json.dumps(c.to_json_dict(), ensure_ascii=False).encode() + b"\n" for _, c in decoded.comments)
    return good, [f"record {r.line_number}: {r.reason}" for r in decoded.rejected]


def replay_key(raw_prefix: str, data: bytes, now: float | None = None) -> str:
    """Under raw/ so the S3 notification fires; the content hash makes a repeated submit overwrite."""
    stamp = time.strftime("%Y/%m/%d", time.gmtime(now if now is not None else time.time()))
    return f"{raw_prefix}{REPLAY_FOLDER}{stamp}/{hashlib.sha256(data).hexdigest()[:16]}.jsonl"


def _records(value: str) -> set[int]:
    try:
        return {int(v) for v in value.split(",") if v.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError("--records takes comma-separated record numbers") from None


def export(source: str, out: Path, records: set[int] | None, reason: str | None, s3: Any) -> int:
    if source.startswith("s3://"):
        bucket, key = parse_s3_url(source)
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    else:
        text = Path(source).read_text()
    chosen = select(read_entries(text), records, reason)
    out.write_bytes(b"".join(raw_bytes(e).rstrip(b"\n") + b"\n" for e in chosen))
    for e in chosen:
        print(f"record {e.get('record')}: {e.get('reason')}")
    print(f"{len(chosen)} line(s) written to {out}; fix them, then run: submit {out} --bucket BUCKET")
    return 0 if chosen else 1


def submit(path: Path, bucket: str, raw_prefix: str, dry_run: bool, s3: Any) -> int:
    good, problems = check(path.read_bytes())
    for problem in problems:
        print(f"still rejected, not submitted: {problem}")
    if not good:
        print("nothing to submit")
        return 1
    key = replay_key(raw_prefix, good)
    count = good.count(b"\n")
    if dry_run:
        print(f"dry run: would upload {count} comment(s) to s3://{bucket}/{key}")
        return 0
    s3.put_object(Bucket=bucket, Key=key, Body=good, ContentType="application/x-ndjson")
    print(f"uploaded {count} comment(s) to s3://{bucket}/{key}")
    return 0


def main(argv: Sequence[str] | None = None, s3: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.replay_quarantine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    exp = commands.add_parser("export", help="write quarantined raw lines to a local file for fixing")
    exp.add_argument("source", help="s3://BUCKET/quarantine/....rejected.jsonl or a local copy")
    exp.add_argument("out", type=Path)
    exp.add_argument("--records", type=_records, help="only these record numbers (comma-separated)")
    exp.add_argument("--reason", help="only entries whose reason contains this text")
    sub = commands.add_parser("submit", help="upload the lines that now decode as comments under raw/")
    sub.add_argument("file", type=Path)
    sub.add_argument("--bucket", required=True)
    sub.add_argument("--raw-prefix", default=schema.DEFAULT_RAW_PREFIX)
    sub.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    s3 = s3 or boto3.client("s3")
    if args.command == "export":
        return export(args.source, args.out, args.records, args.reason, s3)
    prefix = args.raw_prefix if args.raw_prefix.endswith("/") else args.raw_prefix + "/"
    return submit(args.file, args.bucket, prefix, args.dry_run, s3)


if __name__ == "__main__":
    sys.exit(main())
