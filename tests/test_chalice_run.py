"""`make package` / `make deploy` / `make api`: the checks that come before the Chalice CLI."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import chalice_run
from devtools.chalice_run import PreflightError
from devtools.runstate import RunState
from tests.conftest import REPO


def test_aws_region_alone_becomes_the_default_region_chalice_reads() -> None:
    assert chalice_run.region_environment({"AWS_REGION": "eu-west-1"}, "dev") == {"AWS_DEFAULT_REGION": "eu-west-1"}
    both = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-central-1"}
    assert chalice_run.region_environment(both, "dev") == {}  # an explicit AWS_DEFAULT_REGION wins


def test_no_region_at_all_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(PreflightError, match=r"export AWS_REGION=<region>.*aws configure set region"):
        chalice_run.region_environment({}, "dev")
    # The committed local stage is bound to us-east-1.
    assert chalice_run.region_environment({}, "local") == {"AWS_DEFAULT_REGION": "us-east-1"}


def test_a_profile_with_a_region_is_enough(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    (tmp_path / "config").write_text("[profile mod]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    assert chalice_run.region_environment({"AWS_PROFILE": "mod"}, "dev") == {}
    with pytest.raises(PreflightError, match="check AWS_PROFILE"):
        chalice_run.region_environment({"AWS_PROFILE": "nope"}, "dev")


def test_unprovisioned_stage_names_deploy_model(tmp_path: Path) -> None:
    config = {"stages": {"dev": {"api_gateway_stage": "api"},
                         "local": {"lambda_functions": {f: {"iam_policy_file": f"policy-local-{f}.json"}
                                                        for f in chalice_run.FUNCTIONS}}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(PreflightError, match=r"stage 'dev' is not provisioned yet \(policy-dev.json missing.*"
                                             r"run `python deploy_model.py --stage dev` first"):
        chalice_run.check_stage("dev", tmp_path / "config.json")
    (tmp_path / "policy-local-ingest.json").write_text("{}")
    with pytest.raises(PreflightError, match=r"policy-local-classify\.json, policy-local-api_handler\.json missing"):
        chalice_run.check_stage("local", tmp_path / "config.json")
    for f in chalice_run.FUNCTIONS:
        (tmp_path / f"policy-local-{f}.json").write_text("{}")
    chalice_run.check_stage("local", tmp_path / "config.json")
    chalice_run.check_stage("local")  # the committed stage in this repository is complete


def test_package_command_uses_terraform_and_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    args = argparse.Namespace(action="package", stage="local", out=Path("build/package"))
    argv, env = chalice_run.command(args, {"AWS_REGION": "eu-west-1", "PATH": "/bin"})
    assert argv[1:] == ["package", "--stage", "local", "--pkg-format", "terraform", "build/package"]
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1" and env["PATH"] == "/bin"


def test_make_package_before_deploy_model_says_what_to_run() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_DEFAULT_REGION"}
    proc = subprocess.run(["make", "-s", "package", "STAGE=nosuchstage"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode != 0
    assert "run `python deploy_model.py --stage nosuchstage` first" in proc.stderr


def test_api_reads_the_live_run_and_never_real_credentials(tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match="start `make run`"):
        chalice_run.offline_stack(None, tmp_path)
    state = RunState("8000", root=tmp_path)
    state.acquire()
    try:
        state.write_stack({"aws_endpoint_url": "http://127.0.0.1:5001",
                           "sagemaker_runtime_endpoint_url": "http://127.0.0.1:5002", "region": "us-east-1"})
        env = chalice_run.offline_stack(None, tmp_path)
        assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5001"
        assert env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == "http://127.0.0.1:5002"
        assert env["AWS_ACCESS_KEY_ID"] == "testing" and env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
        (tmp_path / "stack.json").unlink()  # the first run's pointer is gone: the one live run is used
        assert chalice_run.offline_stack(None, tmp_path)["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5001"
        other = RunState("8002", root=tmp_path)
        other.acquire()
        other.write_stack({"aws_endpoint_url": "x", "sagemaker_runtime_endpoint_url": "y"})
        (tmp_path / "stack.json").unlink()
        with pytest.raises(PreflightError, match=r"several `make run`s are up; pick one with STACK=.*8000.*8002"):
            chalice_run.offline_stack(None, tmp_path)
        other.release()
    finally:
        state.release()


def test_api_on_a_busy_port_says_which(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "devtools.chalice_run", "api", "--port", str(port)],
                              cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"api: port {port} (chalice local) is already in use; choose another with PORT=N"


def test_an_unreadable_stack_file_is_a_preflight_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match=r"stack file not found: .*gone\.json \(is `make run` up\?\)"):
        chalice_run.offline_stack(tmp_path / "gone.json")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"aws_endpoint_url": "http://127.0.0.1:5000"}))
    with pytest.raises(PreflightError, match=r"cannot read stack file .*broken\.json: 'sagemaker_runtime"):
        chalice_run.offline_stack(broken)
