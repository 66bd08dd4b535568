"""Recorded Reddit data for the fake server: betamax cassettes or Listing JSON -> comment dicts.

Bad files are skipped with a warning (``ReplayData.warnings``), never silently.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The fake server's logger, so loading warnings appear where they always did.
log = logging.getLogger("devtools.fake_reddit")

SAMPLE_LISTING = Path(__file__).resolve().parent / "sample_data" / "synthetic_listing.json"

JSONDict = dict[str, Any]


@dataclass
class ReplayData:
    """Comments extracted from replay files.

    ``comments`` holds the original comment ``data`` dicts, deduplicated by id
    (first occurrence wins). ``per_file`` maps each file that yielded comments
    to its number of unique comment ids; ``warnings`` names every file (or part)
    that was skipped and why.
    """

    comments: list[JSONDict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    per_file: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0

    @property
    def subreddits(self) -> set[str]:
        """Lower-cased names of all subreddits that have at least one comment."""
        return {str(c["subreddit"]).lower() for c in self.comments}


def _warn(data: ReplayData, message: str) -> None:
    data.warnings.append(message)
    log.warning("%s", message)


def _iter_t1(node: Any) -> Iterator[Any]:
    """Yield the ``data`` of every t1 thing in a Listing / list / thing tree (incl. replies)."""
    if isinstance(node, list):
        for item in node:
            yield from _iter_t1(item)
    elif isinstance(node, dict):
        kind = node.get("kind")
        inner = node.get("data")
        if kind == "t1" and isinstance(inner, dict):
            yield inner
            yield from _iter_t1(inner.get("replies"))
        elif kind == "Listing" and isinstance(inner, dict):
            yield from _iter_t1(inner.get("children"))


def _is_listing_like(node: Any) -> bool:
    return isinstance(node, dict) and node.get("kind") in {"Listing", "t1"}


def _cassette_bodies(doc: JSONDict, name: str, data: ReplayData) -> Iterator[Any]:
    """Yield the parsed JSON response bodies of a betamax cassette (non-JSON bodies are skipped)."""
    interactions = doc.get("interactions")
    if not isinstance(interactions, list):
        return
    for index, interaction in enumerate(interactions):
        if not isinstance(interaction, dict) or not isinstance(interaction.get("response"), dict):
            continue
        body = interaction["response"].get("body")
        if not isinstance(body, dict):
            continue
        raw: bytes | None = None
        if isinstance(body.get("string"), str) and body["string"]:
            raw = body["string"].encode("utf-8")
        elif isinstance(body.get("base64_string"), str) and body["base64_string"]:
            try:
                raw = base64.b64decode(body["base64_string"])
                if raw[:2] == b"\x1f\x8b":
                    raw = gzip.decompress(raw)
            except (ValueError, OSError) as exc:
                _warn(data, f"{name}: interaction {index}: undecodable base64 body ({exc})")
                continue
        if raw is None:
            continue
        try:
            yield json.loads(raw)
        except ValueError:
            # Token responses are JSON, but HTML error pages etc. are not; only listings matter.
            continue


def valid_comment(comment: Any) -> bool:
    return (
        isinstance(comment, dict)
        and isinstance(comment.get("id"), str)
        and bool(comment["id"])
        and isinstance(comment.get("subreddit"), str)
        and bool(comment["subreddit"])
        and isinstance(comment.get("created_utc"), int | float)
        and not isinstance(comment.get("created_utc"), bool)
    )


#: Betamax recordings (PRAW's own tests) carry placeholders such as ``<TEST_SUBREDDIT>`` where the
#: real name was filtered out. Reddit never sends such a name and the API refuses it.
_PLACEHOLDER = re.compile(r"^<([A-Za-z0-9_]{2,21})>$")
#: Fields that repeat the subreddit name and must follow its replacement.
_NAMED_FIELDS = ("subreddit", "subreddit_name_prefixed", "permalink", "link_permalink")


def unplaceholder(comment: JSONDict) -> tuple[JSONDict, str | None]:
    """(comment, None), or a copy served under a valid name and the placeholder it replaced.

    ``<TEST_SUBREDDIT>`` becomes ``test_subreddit`` in every field that names the subreddit.
    """
    sub = str(comment["subreddit"])
    match = _PLACEHOLDER.match(sub)
    if match is None:
        return comment, None
    name = match[1].lower()
    out = dict(comment)
    for key in _NAMED_FIELDS:
        if isinstance(out.get(key), str):
            out[key] = out[key].replace(sub, name)
    return out, sub


def _load_file(path: Path, data: ReplayData, seen: set[str]) -> None:
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        _warn(data, f"{name}: skipped, not UTF-8 ({exc.reason} at byte {exc.start})")
        return
    except OSError as exc:
        _warn(data, f"{name}: skipped, cannot read ({exc.strerror or exc})")
        return
    try:
        doc = json.loads(text)
    except ValueError as exc:
        _warn(data, f"{name}: skipped, not valid JSON ({exc})")
        return

    if isinstance(doc, dict) and "interactions" in doc:
        kind = "cassette"
        found = [c for body in _cassette_bodies(doc, name, data) for c in _iter_t1(body)]
    elif _is_listing_like(doc) or (isinstance(doc, list) and doc and all(_is_listing_like(x) for x in doc)):
        kind = "listing"
        found = list(_iter_t1(doc))
    else:
        _warn(
            data,
            f"{name}: skipped, unknown shape (expected a betamax cassette, a Reddit Listing "
            "or a JSON list of Listings)",
        )
        return

    valid = [c for c in found if valid_comment(c)]
    invalid = len(found) - len(valid)
    if invalid:
        _warn(data, f"{name}: ignored {invalid} comment(s) lacking id/subreddit/created_utc")
    mapped: Counter[tuple[str, str]] = Counter()
    kept: list[JSONDict] = []
    for original in valid:
        comment, placeholder = unplaceholder(original)
        if placeholder is not None:
            mapped[placeholder, comment["subreddit"]] += 1
        kept.append(comment)
    for (placeholder, served), count in sorted(mapped.items()):
        _warn(data, f"{name}: {count} comment(s) in {placeholder!r}, a recording placeholder rather than a "
                    f"subreddit name, served as r/{served}")
    valid = kept
    if not valid:
        _warn(data, f"{name}: skipped, {kind} contains no usable t1 comments")
        return

    unique_in_file: set[str] = set()
    for comment in valid:
        cid = comment["id"]
        unique_in_file.add(cid)
        if cid in seen:
            data.duplicates += 1
            continue
        seen.add(cid)
        data.comments.append(comment)
    data.per_file[name] = len(unique_in_file)
    log.info("%s: %d unique comments (%s)", name, len(unique_in_file), kind)


def load_replay(paths: Iterable[Path]) -> ReplayData:
    """Load comments from replay files (directories are expanded to their ``*.json`` files).

    Bad files produce a warning in ``ReplayData.warnings`` (also logged) and are
    skipped; loading continues with the rest.
    """
    data = ReplayData()
    seen: set[str] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.glob("*.json") if p.is_file())
            if not files:
                _warn(data, f"{path}: directory has no *.json files")
            for file in files:
                _load_file(file, data, seen)
        elif path.is_file():
            _load_file(path, data, seen)
        else:
            _warn(data, f"{path}: skipped, no such file or directory")
    return data


def load_replay_dir(directory: Path) -> ReplayData:
    """Load every ``*.json`` file in ``directory`` (see :func:`load_replay`)."""
    return load_replay([Path(directory)])


def load_sample() -> ReplayData:
    """Load the bundled synthetic sample listing."""
    return load_replay([SAMPLE_LISTING])


# --------------------------------------------------------------------------- order and shape


def _base36(value: str) -> int:
    try:
        return int(value, 36)
    except ValueError:
        return -1


def sort_key(comment: Mapping[str, Any]) -> tuple[float, int, str]:
    """Newest-first order is descending by this key (created_utc, then id)."""
    cid = str(comment["id"])
    return (float(comment["created_utc"]), _base36(cid), cid)


def normalize_comment(comment: Mapping[str, Any]) -> JSONDict:
    """Return a copy carrying every field PRAW's Comment and the app read.

    Missing fields get neutral defaults so PRAW never lazily re-fetches a
    comment (which would be a request this server does not implement).
    """
    out: JSONDict = copy.deepcopy(dict(comment))
    cid = str(out["id"])
    link_id = out.get("link_id") if isinstance(out.get("link_id"), str) and out.get("link_id") else None
    out.setdefault("name", f"t1_{cid}")
    out.setdefault("body", "")
    out.setdefault("author", "[deleted]")
    out.setdefault("score", 1)
    out.setdefault("replies", "")
    if link_id is None:
        link_id = "t3_unknown"
        out["link_id"] = link_id
    out.setdefault("parent_id", link_id)
    if not out.get("permalink"):
        out["permalink"] = f"/r/{out['subreddit']}/comments/{link_id.removeprefix('t3_')}/_/{cid}/"
    out.setdefault("subreddit_name_prefixed", f"r/{out['subreddit']}")
    return out
