"""deploy_model.py without usable AWS credentials says what to configure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError, SSOTokenLoadError
from botocore.stub import Stubber

import deploy_model
from provisioning.credentials import CONFIGURE, REFRESH, credentials_hint


def test_hint_for_each_kind_of_credentials_problem() -> None:
    assert credentials_hint(NoCredentialsError()) == CONFIGURE
    assert credentials_hint(SSOTokenLoadError(error_msg="expired")) == REFRESH
    expired = ClientError({"Error": {"Code": "ExpiredToken", "Message": "The security token has expired"}},
                          "GetCallerIdentity")
    assert credentials_hint(expired) == REFRESH
    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "GetCallerIdentity")
    assert credentials_hint(throttled) is None  # not a credentials problem: no advice


def test_dry_run_without_credentials_says_what_to_configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup: no network at all
    code = deploy_model.main(["--stage", "dev", "--dry-run", "--region", "eu-west-1",
                              "--config", str(tmp_path / "config.json")], session=boto3.Session())
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("AWS error: Unable to locate credentials\n")
    for advice in ("export AWS_PROFILE=<name>", "aws configure", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                   "aws sts get-caller-identity"):
        assert advice in err
    assert not (tmp_path / "config.json").exists()


def test_refused_credentials_say_how_to_refresh(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    session = boto3.Session(region_name="eu-west-1")
    sts = session.client("sts")
    stub = Stubber(sts)
    stub.add_client_error("get_caller_identity", service_error_code="ExpiredToken",
                          service_message="The security token included in the request is expired", http_status_code=403)
    original: Any = session.client

    def client(service: str, *args: object, **kwargs: object) -> object:
        return sts if service == "sts" else original(service, *args, **kwargs)

    monkeypatch.setattr(session, "client", client)
    with stub:
        code = deploy_model.main(["--stage", "dev", "--dry-run", "--config", str(tmp_path / "c.json")],
                                 session=session)
    err = capsys.readouterr().err
    assert code == 1
    assert "ExpiredToken" in err and "aws sso login" in err and "refresh them" in err
    assert "testing" not in err  # the (fake) key values never appear
