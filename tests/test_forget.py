"""devtools.forget against moto: an author's comments, or a list of ids, deleted with their counters."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from chalicelib.repository import CommentRepository
from chalicelib.retry import NO_WAIT
from devtools import forget
from tests.conftest import REGION, create_table
from tests.test_deletions import labeled

TABLE = "forget-table"
# u/alice wrote 3 (one hateful in "other"), u/bob 2, u/Alice (another account) 1.
STORED = [labeled(1, author="alice"), labeled(2, author="bob"), labeled(3, "other", "hate", author="alice"),
          labeled(4, author="alice"), labeled(5, author="bob"), labeled(6, author="Alice")]


@pytest.fixture
def repo(aws: None) -> CommentRepository:
    create_table(TABLE)
    repository = CommentRepository(boto3.client("dynamodb", region_name=REGION), TABLE, NO_WAIT)
    repository.put_labeled(STORED, retention_days=30)
    repository.add_counts(STORED)
    return repository


def summary_of(out: str) -> dict[str, object]:
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_forget_an_author_deletes_all_of_theirs_with_counters_and_reports_it(
        repo: CommentRepository, capsys: pytest.CaptureFixture[str]) -> None:
    assert repo.stats() == {"hate": 1, "nothate": 5}
    assert forget.main(["--author", "alice", "--table", TABLE], environ={}) == 0
    out = capsys.readouterr().out
    assert summary_of(out) == {"request": "u/alice", "found": 3, "not_stored": 0, "deleted": 3, "already_gone": 0,
                               "dry_run": False}
    assert sorted(line.split()[1] for line in out.splitlines() if line.startswith("delete ")) == [
        "d0001", "d0003", "d0004"]
    assert repo.stats() == {"hate": 0, "nothate": 3}
    assert repo.stats("other") == {"hate": 0, "nothate": 0}
    assert [i for i in ("d0001", "d0003", "d0004", "d0006") if repo.get_comment(i)] == ["d0006"]  # exact name
    # The same request again finds nothing left to delete.
    assert forget.main(["--author", "alice", "--table", TABLE], environ={}) == 0
    assert summary_of(capsys.readouterr().out)["found"] == 0
    assert repo.stats() == {"hate": 0, "nothate": 3}


def test_forget_ids_and_dry_run(repo: CommentRepository, capsys: pytest.CaptureFixture[str]) -> None:
    assert forget.main(["--comment-id", "d0002,t1_d0005,nosuch", "--table", TABLE, "--dry-run"], environ={}) == 0
    assert summary_of(capsys.readouterr().out)["deleted"] == 0
    assert repo.stats() == {"hate": 1, "nothate": 5}
    assert forget.main(["--comment-id", "d0002,t1_d0005,nosuch", "--table", TABLE], environ={}) == 0
    out = capsys.readouterr().out
    assert "not stored nosuch" in out
    assert summary_of(out) == {"request": "3 requested id(s)", "found": 2, "not_stored": 1, "deleted": 2,
                               "already_gone": 0, "dry_run": False}
    assert repo.stats() == {"hate": 1, "nothate": 3}
    assert repo.get_comment("d0002") is None and repo.get_comment("d0005") is None


def test_forget_reads_the_table_of_a_deployed_stage(repo: CommentRepository, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({"stages": {"dev": {"environment_variables": {
        "TABLE_NAME": TABLE, "RETENTION_DAYS": "30"}}}}))
    assert forget.main(["--author", "bob", "--stage", "dev", "--config", str(config_path)], environ={}) == 0
    captured = capsys.readouterr()
    assert summary_of(captured.out)["deleted"] == 2
    assert f"table {TABLE} (stage dev" in captured.err and "expire within 30 days" in captured.err
    assert forget.main(["--author", "bob", "--stage", "prod", "--config", str(config_path)], environ={}) == 1
    assert "stage 'prod' has no TABLE_NAME" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--author", "not a name!", "--table", "t"], ["--comment-id", ",", "--table", "t"],
                                  ["--table", "t"], ["--author", "a", "--comment-id", "b"]])
def test_bad_requests_are_refused_before_any_call(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        forget.main(argv, environ={})
    assert exc.value.code == 2
