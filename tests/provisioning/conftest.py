"""A provisioning Context over moto, with a fake clock so waits never sleep."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from provisioning.common import Context, Options

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_ctx(tmp_path: Path, lines: list[str] | None = None, clock: FakeClock | None = None,
             **options: object) -> Context:
    clock = clock or FakeClock()
    options.setdefault("stage", "dev")
    opts = Options(region=REGION, config_path=tmp_path / ".chalice" / "config.json", **options)  # type: ignore[arg-type]
    out = lines.append if lines is not None else (lambda _line: None)
    return Context(boto3.Session(region_name=REGION), opts, out=out, sleep=clock.sleep, clock=clock)


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def ctx(aws: None, tmp_path: Path, lines: list[str]) -> Context:
    return make_ctx(tmp_path, lines)
