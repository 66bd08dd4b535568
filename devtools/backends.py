"""The offline stack's plumbing, shared by `make run` (devtools/runner.py) and the benchmarks (bench/).

Children in their own process groups, the moto server and the local model
server on loopback ports, deploy_model.py --stage local provisioning them, the
boto3 environment that points at them, and what Lambda hands a handler run in
this process (a context with the time left, a scheduled event).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.runstate import check_child, free_port

REPO = Path(__file__).resolve().parents[1]
STAGE = "local"
REGION = "us-east-1"
#: Lambda timeouts, as in .chalice/config.json.
LAMBDA_TIMEOUT_S = 300
CLASSIFY_TIMEOUT_S = 900
#: Reddit credentials for the fake server (it accepts anything); never real ones.
OFFLINE_REDDIT = {
    "REDDIT_CLIENT_ID": "offline-client",
    "REDDIT_CLIENT_SECRET": "offline-secret",
    "REDDIT_USER_AGENT": "offline:reddit-hate-watch:0.1 (by /u/offline)",
}


def wait_http(url: str, seconds: float = 60.0, procs: Processes | None = None) -> None:
    """Until ``url`` answers anything at all (any HTTP status counts as up).

    With ``procs``, a child that exits meanwhile raises ChildDied with its name and log.
    """
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if procs is not None:
            procs.check()
        try:
            urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 - loopback URL we built
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {seconds:.0f} s")


@dataclass
class Processes:
    """Children in their own process groups, all stopped on exit."""

    log_dir: Path
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(list(argv), env=dict(env), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.children.append((name, proc))
        return proc

    def check(self) -> None:
        """Raise ChildDied for the first child that has exited."""
        for name, proc in self.children:
            check_child(name, proc, self.log_dir / f"{name}.log")

    def stop(self) -> None:
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _name, proc in self.children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.children.clear()


class LambdaContext:
    """What Lambda hands a handler: a request id and the time left."""

    def __init__(self, function_name: str, timeout_s: int = LAMBDA_TIMEOUT_S) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:reddit-hate-watch-{STAGE}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = self.log_stream_name = f"/aws/lambda/{function_name}"
        self._end = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - time.monotonic()) * 1000))


def stage_environment(config_file: Path) -> dict[str, str]:
    config = json.loads(config_file.read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config.get("stages", {}).get(STAGE, {}).get("environment_variables", {}))
    return {k: str(v) for k, v in env.items()}


def aws_environment(moto_port: int, model_port: int) -> dict[str, str]:
    """What points boto3 at the emulated stack: endpoints, fake credentials, region."""
    return {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any key
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": f"http://127.0.0.1:{model_port}",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }


def start_backends(procs: Processes, model_args: Sequence[str] = (), moto_port: int = 0,
                   model_port: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    """Start moto and the local model server (port 0: a free one); returns (aws env, full child env)."""
    py = sys.executable
    moto_port, model_port = moto_port or free_port(), model_port or free_port()
    aws = aws_environment(moto_port, model_port)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **aws}
    procs.start("moto", [py, "-m", "devtools.moto_server", "-H", "127.0.0.1", "-p", str(moto_port)], env)
    procs.start("model-server", [py, "-m", "devtools.model_server", "--port", str(model_port),
                                 *model_args], env)
    wait_http(f"http://127.0.0.1:{moto_port}/moto-api/", procs=procs)
    wait_http(f"http://127.0.0.1:{model_port}/ping", procs=procs)
    return aws, env


def provision(env: Mapping[str, str], model_id: str) -> dict[str, str]:
    """Run deploy_model.py --stage local against the emulated stack; returns the stage's environment."""
    deploy = subprocess.run(
        [sys.executable, str(REPO / "deploy_model.py"), "--stage", STAGE, "--region", REGION, "--no-wait",
         "--model-id", model_id],
        env={**env, **OFFLINE_REDDIT}, cwd=REPO, capture_output=True, text=True, check=False)
    if deploy.returncode != 0:
        raise RuntimeError(f"deploy_model.py failed:\n{deploy.stdout}\n{deploy.stderr}")
    return stage_environment(REPO / ".chalice" / "config.json")


def scheduled_event() -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": now, "region": REGION, "resources": [], "detail": {}}
