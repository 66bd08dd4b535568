"""What keeps two `make run`s apart: busy ports, per-run state, children that die.

Each run owns ``.local/runs/<api port>/`` (its ``stack.json`` and ``logs/``) for as long
as it holds an exclusive ``flock`` on ``lock`` in that folder. The kernel drops the lock
when the process dies, however it dies, so a folder whose lock can be taken belongs to a
dead run and may be cleaned; a folder whose lock is held is never read, written or deleted.
``.local/stack.json`` points the tools that take no flags (``make report``, ``make api``) at
the first live run; it is claimed only when no live run owns it and removed only by its owner.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
LOCAL = REPO / ".local"
DEFAULT_STACK = LOCAL / "stack.json"
LOG_TAIL_LINES = 12


class RunError(RuntimeError):
    """A run cannot start or go on; the message is one line meant for the user."""


class PortBusy(RunError):
    def __init__(self, port: int, role: str, option: str) -> None:
        spelled = f"{option}N" if option.endswith("=") else f"{option} N"
        super().__init__(f"port {port} ({role}) is already in use; choose another with {spelled}")
        self.port = port
        self.option = option


class ChildDied(RunError):
    def __init__(self, name: str, code: int | None, log: Path, tail: str) -> None:
        if code is None:
            why = "stopped answering"
        elif code < 0:
            why = f"was killed by signal {signal.Signals(-code).name}"
        else:
            why = f"exited unexpectedly with code {code}"
        shown = log.relative_to(REPO) if log.is_relative_to(REPO) else log
        super().__init__(f"{name} {why}; last lines of {shown}:\n{tail or '(log is empty)'}")
        self.name = name
        self.code = code


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something listens on ``host:port`` or the port cannot be bound."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket() as s:
        # SO_REUSEADDR as the servers themselves set it: connections left in TIME_WAIT by a run
        # that just stopped must not count as busy, while Linux still refuses a port someone listens on.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def check_ports(ports: Iterable[tuple[int, str, str]]) -> None:
    """Raise PortBusy for the first busy one of (port, role, option); 0 means "pick a free one"."""
    for port, role, option in ports:
        if port and port_in_use(port):
            raise PortBusy(port, role, option)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a child's log, indented, for an error message."""
    try:
        text = path.read_bytes()[-16_384:].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(f"    {line}" for line in text.rstrip().splitlines()[-lines:])


def check_child(name: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Raise ChildDied, naming the child and quoting its log, if it has exited."""
    code = proc.poll()
    if code is not None:
        raise ChildDied(name, code, log, log_tail(log))


def _lock_held(lock: Path) -> bool:
    """True if a live process holds the run lock at ``lock``."""
    try:
        handle = lock.open("a")
    except OSError:
        return False
    with handle:
        try:
            # Shared: two probes never block each other; a run's exclusive lock blocks both.
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


@dataclass
class RunState:
    """The state folder of one run, keyed by its API port, and the lock that guards it."""

    key: str
    root: Path = LOCAL
    _handle: IO[str] | None = None

    @property
    def folder(self) -> Path:
        return self.root / "runs" / self.key

    @property
    def stack_file(self) -> Path:
        return self.folder / "stack.json"

    @property
    def log_dir(self) -> Path:
        return self.folder / "logs"

    @property
    def default_stack(self) -> Path:
        return self.root / "stack.json"

    def acquire(self) -> None:
        """Take the lock, or raise RunError if a live run holds it; clears a dead run's leftovers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = (self.folder / "lock").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            handle.close()
            raise RunError(f"another run (pid {owner}) owns {self._shown(self.folder)}; "
                           "stop it or choose another --port N") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        # Ours now: whatever is left belongs to a run that died.
        with contextlib.suppress(FileNotFoundError):
            self.stack_file.unlink()
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def write_stack(self, stack: Mapping[str, Any]) -> list[Path]:
        """Write this run's stack.json, and claim .local/stack.json if no live run owns it."""
        if self._handle is None:
            raise RunError("write_stack() before acquire()")
        text = json.dumps({**stack, "pid": os.getpid(), "run": self.key}, indent=2) + "\n"
        self.stack_file.write_text(text)
        written = [self.stack_file]
        if self._default_owner() is None:
            tmp = self.default_stack.with_name(f".stack.{os.getpid()}.tmp")
            tmp.write_text(text)
            tmp.replace(self.default_stack)
            written.append(self.default_stack)
        return written

    def release(self) -> None:
        """Remove this run's stack files (never another run's) and drop the lock; logs stay."""
        if self._handle is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.stack_file.unlink()
        if self._default_owner() == (os.getpid(), self.key):
            with contextlib.suppress(FileNotFoundError):
                self.default_stack.unlink()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def _default_owner(self) -> tuple[int, str] | None:
        """(pid, run key) of the live run that .local/stack.json describes, or None if none does."""
        return pointer_owner(self.root)

    def _shown(self, path: Path) -> str:
        return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def pointer_owner(root: Path = LOCAL) -> tuple[int, str] | None:
    """(pid, run key) of the run ``root``/stack.json describes, if that run still lives (pid and lock)."""
    try:
        info = json.loads((root / DEFAULT_STACK.name).read_text())
        pid, key = int(info.get("pid", 0)), str(info.get("run", ""))
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    # A pid alone can be reused by an unrelated process; the run's lock cannot outlive it.
    if not key or not pid_alive(pid) or not _lock_held(root / "runs" / key / "lock"):
        return None
    return pid, key


def current_stack(root: Path = LOCAL, option: str = "--stack ") -> Path | None:
    """The stack file tools use by default: .local/stack.json while its run lives, else the only live run's.

    None when no run is up; RunError naming each file (after ``option``) when several are and none is default.
    """
    if pointer_owner(root) is not None:
        return root / DEFAULT_STACK.name
    live = live_stacks(root)
    if len(live) > 1:
        shown = [str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p) for p in live]
        raise RunError(f"several `make run`s are up; pick one with {option}" + f" or {option}".join(shown))
    return live[0] if live else None


def live_stacks(root: Path = LOCAL) -> list[Path]:
    """stack.json of every run whose lock is held, oldest folder name first."""
    runs = root / "runs"
    if not runs.is_dir():
        return []
    return sorted(p / "stack.json" for p in runs.iterdir()
                  if (p / "stack.json").is_file() and _lock_held(p / "lock"))


@dataclass(frozen=True)
class Target:
    """A table for an operator tool (report, forget) and how to reach it."""

    table: str
    source: str  # how the table was found, for messages
    region: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # variables to set before building clients


class StackMissing(RunError):
    """The stack file does not exist (no `make run` wrote it, or it ended)."""


def read_stack(path: Path) -> dict[str, Any]:
    """The JSON object a run wrote to its stack file; StackMissing or RunError naming the file."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StackMissing(f"stack file not found: {path}") from exc
    except (OSError, ValueError) as exc:
        raise RunError(f"cannot read stack file {path}: {exc}") from exc
    if not isinstance(info, dict):
        raise RunError(f"cannot read stack file {path}: not a JSON object")
    return info


def stack_target(path: Path, table: str | None, env: Mapping[str, str]) -> Target:
    """The offline stack described by ``path``: its moto endpoint, region and (unless given) table.

    Raises RunError naming the file when it is missing, unreadable or incomplete.
    """
    info = read_stack(path)
    if not (table or info.get("table")) or not info.get("aws_endpoint_url"):
        raise RunError(f"stack file {path} lacks 'table' or 'aws_endpoint_url'")
    extra = {"AWS_ENDPOINT_URL": str(info["aws_endpoint_url"])}
    if not env.get("AWS_ACCESS_KEY_ID"):
        # moto accepts any credentials; fake ones keep a developer's real keys out of it.
        extra |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    region = str(info["region"]) if info.get("region") else None
    return Target(str(table or info["table"]), f"offline stack {path} ({info['aws_endpoint_url']})", region, extra)
