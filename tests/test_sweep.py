"""The Sweeper use case with fakes at its two seams: budget, cursor, passes, what it deletes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.models import GoneCheck, StoredRef
from chalicelib.retry import Deadline, Unlimited
from chalicelib.sweep import (
    Deletion,
    StoredPage,
    SweepCursor,
    Sweeper,
    daily_capacity,
    days_per_pass,
    requests_per_run,
)


@dataclass
class FakeStore:
    """Stored comments in one list, oldest first; the cursor is an offset."""

    ids: list[str]
    cursor: SweepCursor = field(default_factory=SweepCursor)
    saved: list[SweepCursor] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    gone_before: set[str] = field(default_factory=set)

    def sweep_cursor(self) -> SweepCursor:
        return self.cursor

    def save_sweep_cursor(self, cursor: SweepCursor) -> None:
        self.cursor = cursor
        self.saved.append(cursor)

    def stored_page(self, cursor: SweepCursor, limit: int) -> StoredPage:
        start = int((cursor.after or {}).get("offset", 0))
        refs = [StoredRef(i, "sub", "nothate") for i in self.ids[start : start + limit]]
        end = start + len(refs)
        wrapped = end >= len(self.ids)
        return StoredPage(refs, SweepCursor(0, None if wrapped else {"offset": end}, cursor.passes), wrapped)

    def delete_comments(self, refs: Sequence[StoredRef]) -> Deletion:
        ids = [r.comment_id for r in refs]
        already = tuple(i for i in ids if i in self.gone_before)
        done = tuple(i for i in ids if i not in self.gone_before)
        self.deleted += done
        return Deletion(done, already)


@dataclass
class FakeReddit:
    gone_ids: dict[str, str]
    fail_after: int | None = None  # requests answered before Reddit starts failing
    requests: int = 0

    def gone(self, fullnames: Sequence[str], max_requests: int, deadline: Deadline, reserve: int = 0) -> GoneCheck:
        if not fullnames:
            return GoneCheck((), {}, (), 0)
        if max_requests < 1 or (self.fail_after is not None and self.requests >= self.fail_after):
            return GoneCheck((), {}, (), 0, "ServerError: 503")
        self.requests += 1
        chunk = tuple(fullnames[:100])
        return GoneCheck(chunk, {f: self.gone_ids[f[3:]] for f in chunk if f[3:] in self.gone_ids}, (), 1)


@dataclass
class FakeLeases:
    held_by: str | None = None
    taken: list[int] = field(default_factory=list)

    def acquire_lease(self, name: str, owner: str, seconds: int) -> bool:
        if self.held_by not in (None, owner):
            return False
        self.held_by = owner
        self.taken.append(seconds)
        return True

    def release_lease(self, name: str, owner: str) -> None:
        if self.held_by == owner:
            self.held_by = None


IDS = [f"c{i:04d}" for i in range(450)]


def sweeper(reddit: FakeReddit, store: FakeStore, max_requests: int, leases: FakeLeases | None = None) -> Sweeper:
    return Sweeper(reddit, store, leases or FakeLeases(), max_requests)


def test_one_run_checks_every_comment_once_then_the_pass_is_complete() -> None:
    store = FakeStore(IDS)
    reddit = FakeReddit({"c0003": "deleted", "c0420": "removed"})
    report = sweeper(reddit, store, 100).run(Unlimited())
    assert (report.checked, report.deleted, report.requests, report.pass_completed) == (450, 2, 5, True)
    assert report.reasons == {"deleted": 1, "removed": 1}
    assert store.deleted == ["c0003", "c0420"]
    assert store.cursor == SweepCursor(0, None, passes=1)  # the next run starts at the oldest again


def test_the_budget_stops_the_run_and_the_next_run_resumes_where_it_stopped() -> None:
    store = FakeStore(IDS)
    reddit = FakeReddit({"c0250": "deleted"})
    first = sweeper(reddit, store, 2).run(Unlimited())
    assert (first.checked, first.deleted, first.pass_completed, first.stopped_reason) == (
        200, 0, False, "request budget used")
    second = sweeper(reddit, store, 2).run(Unlimited())
    assert (second.checked, second.deleted) == (200, 1)
    third = sweeper(reddit, store, 2).run(Unlimited())
    assert (third.checked, third.pass_completed) == (50, True)
    assert reddit.requests == 5


def test_a_reddit_fault_keeps_the_cursor_so_nothing_is_skipped() -> None:
    store = FakeStore(IDS)
    report = sweeper(FakeReddit({}, fail_after=1), store, 10).run(Unlimited())
    assert report.checked == 100 and report.stopped_reason == "ServerError: 503"
    assert store.cursor.after == {"offset": 100}


def test_comments_gone_before_the_delete_count_as_already_gone() -> None:
    store = FakeStore(IDS[:10], gone_before={"c0001"})
    report = sweeper(FakeReddit({"c0001": "deleted", "c0002": "deleted"}), store, 5).run(Unlimited())
    assert (report.deleted, report.already_gone) == (1, 1)


class LowTime:
    def remaining_ms(self) -> int:
        return 1_000


def test_no_page_is_started_without_time_left() -> None:
    store = FakeStore(IDS)
    report = sweeper(FakeReddit({}), store, 10).run(LowTime())
    assert (report.checked, report.stopped_reason, store.saved) == (0, "time budget", [])


def test_an_empty_table_completes_a_pass_with_no_request() -> None:
    report = sweeper(FakeReddit({}), FakeStore([]), 10).run(Unlimited())
    assert (report.checked, report.requests, report.pass_completed) == (0, 0, True)


def test_budget_arithmetic() -> None:
    assert requests_per_run(20, 10) == 200  # 20 % of 100 a minute, over ten minutes
    assert requests_per_run(1, 1) == 1
    assert daily_capacity(20) == 2_880_000  # 28,800 requests of 100 fullnames
    assert days_per_pass(2_880_000, 20) == 1.0
    assert days_per_pass(8_640_000, 20) == 3.0


def test_a_second_sweep_while_one_runs_checks_nothing() -> None:
    leases = FakeLeases(held_by="someone else")
    store = FakeStore(IDS)
    report = sweeper(FakeReddit({}), store, 10, leases).run(Unlimited())
    assert (report.checked, report.requests, report.stopped_reason) == (0, 0, "another sweep is running")
    assert store.saved == []
    free = FakeLeases()
    sweeper(FakeReddit({}), store, 10, free).run(Unlimited())
    assert free.held_by is None and free.taken == [15 * 60 + 30]  # released; lasts the run's time + margin
