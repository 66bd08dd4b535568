"""The shared lease block (chalicelib.retry.leased) used by ingest, classify and sweep."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from chalicelib.retry import LEASE_MARGIN_SECONDS, LEASE_SECONDS, leased


@dataclass
class Leases:
    held_by: str | None = None
    asked: list[int] = field(default_factory=list)
    released: list[str] = field(default_factory=list)

    def acquire_lease(self, name: str, owner: str, seconds: int) -> bool:
        self.asked.append(seconds)
        if self.held_by not in (None, owner):
            return False
        self.held_by = owner
        return True

    def release_lease(self, name: str, owner: str) -> None:
        self.released.append(owner)
        self.held_by = None


@dataclass(frozen=True)
class Left:
    ms: int

    def remaining_ms(self) -> int:
        return self.ms


def test_lease_lasts_the_holders_remaining_time_plus_the_margin() -> None:
    leases = Leases()
    with leased(leases, "x", "me", Left(90_000)) as held:
        assert held
    with leased(leases, "x", "me", Left(10**9)):
        pass
    assert leases.asked == [90 + LEASE_MARGIN_SECONDS, LEASE_SECONDS]
    assert leases.released == ["me", "me"]


def test_lease_is_released_when_the_block_raises() -> None:
    leases = Leases()
    with pytest.raises(RuntimeError), leased(leases, "x", "me", Left(60_000)):
        raise RuntimeError("boom")
    assert leases.held_by is None and leases.released == ["me"]


def test_a_lease_held_by_another_is_neither_taken_nor_released() -> None:
    leases = Leases(held_by="other")
    with leased(leases, "x", "me", Left(60_000)) as held:
        assert not held
    assert leases.held_by == "other" and leases.released == []
