"""`make run --once` end to end: real processes, real ports on 127.0.0.1, no network."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools.fake_reddit import load_sample
from tests.conftest import REPO, shared_data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_once(*args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    port = free_port()
    pointer = REPO / ".local" / "stack.json"
    before = pointer.read_bytes() if pointer.exists() else None  # another live run's, if any
    proc = subprocess.run([sys.executable, "-m", "devtools.runner", "--once", "--port", str(port), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    # Everything it started is gone: the API port is free again.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    # Its own stack file is gone; another run's pointer (if one was up) is untouched.
    assert not (REPO / ".local" / "runs" / str(port) / "stack.json").exists()
    assert (pointer.read_bytes() if pointer.exists() else None) == before
    assert (REPO / ".local" / "runs" / str(port) / "logs" / "chalice-local.log").is_file()
    return proc, summary


def test_runner_once_on_a_small_replay_folder_with_bad_files(tmp_path: Path) -> None:
    sample = load_sample().comments[:12]
    # Two comments as PRAW's recordings name their subreddit: a placeholder, not a Reddit name.
    sample += [{**c, "id": f"ph{i}", "subreddit": "<TEST_SUBREDDIT>", "permalink": ""}
               for i, c in enumerate(load_sample().comments[12:14])]
    listing = {"kind": "Listing", "data": {"children": [{"kind": "t1", "data": c} for c in sample],
                                           "after": None, "before": None}}
    (tmp_path / "good.json").write_text(json.dumps(listing))
    (tmp_path / "broken.json").write_text("this is not JSON")
    (tmp_path / "empty-cassette.json").write_text(json.dumps({"interactions": []}))
    proc, summary = run_once("--replay", str(tmp_path))
    assert "broken.json" in proc.stdout and "empty-cassette.json" in proc.stdout
    assert "2 comment(s) in '<TEST_SUBREDDIT>', a recording placeholder rather than a subreddit name, " \
           "served as r/test_subreddit" in proc.stdout
    assert summary["ingested"] == summary["stored"] == 14
    assert summary["api_comments"] == summary["api_unique"] == 14
    labels = summary["labels"]
    stats = summary["stats"]
    assert (stats["labels"], stats["total"]) == ({"hate": labels.get("hate", 0), "nothate": labels.get("nothate", 0)},
                                                 14)


def test_runner_once_with_comments_deleted_on_reddit(tmp_path: Path) -> None:
    """`make run ARGS='--deleted FILE'`: the sweep removes them, the API forgets them, /stats drops."""
    sample = load_sample().comments
    gone = [c["id"] for c in sample[:3]]
    deleted = tmp_path / "deleted.txt"
    deleted.write_text(f"{gone[0]}\n{gone[1]} removed\n# a comment line\nt1_{gone[2]}\n")
    proc, summary = run_once("--deleted", str(deleted))
    assert summary["stored"] == len(sample)
    assert summary["sweep"] == {"checked": len(sample), "deleted": 3}
    assert summary["stats"]["total"] == len(sample) - 3
    assert summary["api_comments"] == len(sample) - 3
    assert summary["deleted_not_found"] == 3  # GET /comments/{id} answers 404 for each
    assert "sweep checked 40 on Reddit and deleted 3" in proc.stdout


def test_runner_once_on_the_recorded_cassettes() -> None:
    folder = shared_data() / "reddit-cassettes"
    if not folder.is_dir():
        pytest.skip(f"recorded Reddit data not found at {folder} (CI-only data, absent from a user's clone)")
    _, summary = run_once("--replay", str(folder))
    assert summary["api_comments"] == summary["api_unique"] == summary["stored"] == 634
    assert summary["stats"]["total"] == 634


def test_runner_recovers_every_comment_from_an_endpoint_outage(tmp_path: Path) -> None:
    """The model server fails from the first classification (ModelNotReady, then the
    container's 400) for longer than Lambda's shortened retries; the reconciler
    finishes the objects afterwards, with no manual step, each comment stored once."""
    sample = load_sample().comments[:12]
    listing = {"kind": "Listing", "data": {"children": [{"kind": "t1", "data": c} for c in sample],
                                           "after": None, "before": None}}
    (tmp_path / "good.json").write_text(json.dumps(listing))
    proc, summary = run_once("--replay", str(tmp_path), "--endpoint-outage", "12", "--async-delays", "1,2",
                             "--reconcile-every", "2", "--reconcile-min-age", "1", "--attention-after", "2",
                             "--slow-retry", "3")
    assert summary["api_comments"] == summary["api_unique"] == summary["stats"]["total"] == 12
    recovery = summary["recovery"]
    assert recovery["classify_failed"] >= 1 and recovery["dropped_after_retries"] >= 1
    assert recovery["classify_retries"] == 2 * recovery["dropped_after_retries"]
    assert recovery["recovered_by_reconciler"] >= 1 and recovery["objects_needing_attention"] >= 1
    # Both failure modes of a real outage were served: the serverless cold start and the container's 400.
    assert set(summary["endpoint_outage"]["refused"]) == {"not_ready", "failing"}
    assert summary["endpoint_outage"]["over"]
    assert "recovery:" in proc.stdout and "Lambda drops the event" in proc.stdout
