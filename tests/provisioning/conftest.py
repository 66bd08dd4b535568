"""A provisioning Context over moto, with a fake clock so waits never sleep; and deploy_model.py's CLI run
against moto through one recorded boto3 session (the test_deploy_model*.py modules)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

import deploy_model
from provisioning.common import Context, Options

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's
# What deploy_model.py names the dev stage's resources.
BUCKET = f"reddit-hate-dev-{ACCOUNT}-{REGION}"
TABLE = STREAM = "reddit-hate-dev-comments"
ENDPOINT = "reddit-hate-dev"
READ_PREFIXES = ("Describe", "Get", "List", "Head")


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


class CallLog:
    """Records every AWS operation made through one boto3 session."""

    def __init__(self, session: boto3.Session) -> None:
        self.ops: list[str] = []
        session.events.register("before-call", self._record)

    def _record(self, event_name: str, **_: Any) -> None:
        self.ops.append(event_name.split(".", 1)[1])  # "s3.CreateBucket"

    @property
    def writes(self) -> list[str]:
        return [op for op in self.ops if not op.split(".", 1)[1].startswith(READ_PREFIXES)]

    def clear(self) -> None:
        self.ops.clear()


@pytest.fixture
def session(aws: None) -> boto3.Session:
    return boto3.Session(region_name=REGION)


@pytest.fixture
def calls(session: boto3.Session) -> CallLog:
    return CallLog(session)


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    path = tmp_path / ".chalice" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps({
        "version": "2.0", "app_name": "reddit-hate-watch", "autogen_policy": True, "lambda_timeout": 300,
        "stages": {
            "dev": {"api_gateway_stage": "api",
                    "environment_variables": {"REDDIT_OAUTH_URL": "http://127.0.0.1:9/", "API_AUTH": "iam"}},
            "prod": {"api_gateway_stage": "api"},
        },
    }, indent=4))
    return path


def run(session: boto3.Session, cfg_path: Path, *args: str) -> int:
    return deploy_model.main(["--stage", "dev", "--config", str(cfg_path), *args], session=session)


def aws_client(name: str) -> Any:
    return boto3.client(name, region_name=REGION)  # type: ignore[call-overload]
