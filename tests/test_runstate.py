"""Two `make run`s side by side: busy ports, per-run state, children that die."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import runstate
from devtools.backends import Processes, wait_http
from devtools.runstate import ChildDied, PortBusy, RunError, RunState
from tests.conftest import REPO


@pytest.fixture
def listener() -> Iterator[int]:
    """A port some other program is serving on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_busy_port_is_named_with_the_option_that_changes_it(listener: int) -> None:
    with pytest.raises(PortBusy) as caught:
        runstate.check_ports([(runstate.free_port(), "REST API", "--port"), (listener, "moto server", "--moto-port")])
    assert str(caught.value) == f"port {listener} (moto server) is already in use; choose another with --moto-port N"
    runstate.check_ports([(0, "model server", "--model-port"), (runstate.free_port(), "REST API", "--port")])


@pytest.mark.parametrize("option", ["--port", "--reddit-port"])
def test_runner_on_a_busy_port_exits_non_zero_before_starting_anything(listener: int, option: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    api_port = listener if option == "--port" else runstate.free_port()
    args = ["--port", str(api_port)] if option != "--port" else []
    proc = subprocess.run([sys.executable, "-m", "devtools.runner", "--once", *args, option, str(listener)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines == [f"[run] error: port {listener} ({'REST API' if option == '--port' else 'fake Reddit'}) "
                     f"is already in use; choose another with {option} N"]
    # It stopped before taking any state: no run folder for its port.
    assert not (REPO / ".local" / "runs" / str(api_port)).exists()


def test_a_live_runs_state_is_never_touched(tmp_path: Path) -> None:
    first = RunState("8000", root=tmp_path)
    first.acquire()
    first.log_dir.mkdir(parents=True)
    (first.log_dir / "moto.log").write_text("first run's log\n")
    first.write_stack({"table": "first", "pid": os.getpid()})
    assert json.loads((tmp_path / "stack.json").read_text())["table"] == "first"

    second = RunState("8000", root=tmp_path)
    with pytest.raises(RunError, match=rf"another run \(pid {os.getpid()}\) owns .*runs/8000; stop it or choose"):
        second.acquire()
    other = RunState("8001", root=tmp_path)
    other.acquire()
    other.write_stack({"table": "second", "pid": os.getpid()})
    # The default pointer still belongs to the first run; each run has its own file.
    assert json.loads((tmp_path / "stack.json").read_text())["table"] == "first"
    assert runstate.live_stacks(tmp_path) == [first.stack_file, other.stack_file]
    other.release()
    assert (first.log_dir / "moto.log").read_text() == "first run's log\n"
    assert json.loads(first.stack_file.read_text())["table"] == "first"
    assert json.loads((tmp_path / "stack.json").read_text())["table"] == "first"
    first.release()
    assert not (tmp_path / "stack.json").exists() and not first.stack_file.exists()
    assert runstate.live_stacks(tmp_path) == []


def test_a_dead_runs_leftovers_are_cleaned(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "8000"
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "moto.log").write_text("old\n")
    (folder / "stack.json").write_text("{}")
    (folder / "lock").write_text("999999\n")  # the pid of a run that died: no lock is held
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    (tmp_path / "stack.json").write_text(json.dumps({"pid": int(dead.stdout)}))
    assert runstate.live_stacks(tmp_path) == []
    state = RunState("8000", root=tmp_path)
    state.acquire()
    assert not (folder / "logs").exists() and not (folder / "stack.json").exists()
    state.write_stack({"table": "new", "pid": os.getpid()})  # a dead owner's pointer is taken over
    assert json.loads((tmp_path / "stack.json").read_text())["table"] == "new"
    state.release()


def test_a_child_that_dies_is_named_with_the_end_of_its_log(tmp_path: Path) -> None:
    procs = Processes(tmp_path)
    script = "import sys; print('starting'); print('OSError: [Errno 98] Address already in use'); sys.exit(3)"
    procs.start("chalice-local", [sys.executable, "-c", script], os.environ)
    procs.start("moto", [sys.executable, "-c", "import time; time.sleep(30)"], os.environ)
    try:
        with pytest.raises(ChildDied) as caught:
            wait_http(f"http://127.0.0.1:{runstate.free_port()}/", seconds=20, procs=procs)
        assert caught.value.name == "chalice-local" and caught.value.code == 3
        message = str(caught.value)
        assert message.startswith(
            f"chalice-local exited unexpectedly with code 3; last lines of {tmp_path}/chalice-local.log:")
        assert "Address already in use" in message
    finally:
        procs.stop()


def test_a_port_left_in_time_wait_is_not_busy() -> None:
    """Right after a run stops, its API port has connections in TIME_WAIT: a new run must still start there."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = server.accept()
        conn.close()  # the server side closes first: its end goes to TIME_WAIT
        client.close()
    assert not runstate.port_in_use(port)


def test_a_pointer_whose_pid_was_reused_is_stale(tmp_path: Path) -> None:
    """The pid in .local/stack.json is alive (reused by another process) but its run's lock is free."""
    (tmp_path / "stack.json").write_text(json.dumps({"pid": os.getpid(), "run": "9999", "table": "old"}))
    assert runstate.pointer_owner(tmp_path) is None and runstate.current_stack(tmp_path) is None
    state = RunState("8000", root=tmp_path)
    state.acquire()
    try:
        state.write_stack({"table": "new"})
        assert json.loads((tmp_path / "stack.json").read_text())["table"] == "new"
        assert runstate.current_stack(tmp_path) == tmp_path / "stack.json"
    finally:
        state.release()
    assert not (tmp_path / "stack.json").exists()


def test_between_cycles_a_dying_child_stops_the_run_at_once(tmp_path: Path) -> None:
    from devtools.runner import Runner, parse_args  # noqa: PLC0415

    runner = Runner(parse_args(["--port", str(runstate.free_port())]))
    runner.procs = Processes(tmp_path)
    runner.procs.start("model-server", [sys.executable, "-c", "import sys, time; time.sleep(0.3); "
                                        "print('MemoryError: cannot load the model'); sys.exit(1)"], os.environ)
    try:
        with pytest.raises(ChildDied, match=r"(?s)model-server exited unexpectedly with code 1;.*cannot load"):
            runner.watchful_sleep(30)  # raises long before the 30 s are over
    finally:
        runner.procs.stop()


def test_read_stack_names_the_file_and_what_is_wrong_with_it(tmp_path: Path) -> None:
    stack = tmp_path / "stack.json"
    with pytest.raises(runstate.StackMissing, match=r"stack file not found: .*stack\.json"):
        runstate.read_stack(stack)
    stack.write_text("{not json")
    with pytest.raises(RunError, match=r"cannot read stack file .*stack\.json") as bad:
        runstate.read_stack(stack)
    assert not isinstance(bad.value, runstate.StackMissing)
    stack.write_text("[1, 2]")
    with pytest.raises(RunError, match="not a JSON object"):
        runstate.read_stack(stack)
    stack.write_text(json.dumps({"aws_endpoint_url": "http://127.0.0.1:5000"}))
    assert runstate.read_stack(stack) == {"aws_endpoint_url": "http://127.0.0.1:5000"}
