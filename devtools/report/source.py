"""Where the report's data comes from: the table, the offline stack file, --since."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib import config
from chalicelib.errors import ConfigError
from chalicelib.queries import parse_time
from devtools.runstate import DEFAULT_STACK, LOCAL, RunError, Target, current_stack, stack_target

if TYPE_CHECKING:
    from chalicelib.repository import CommentRepository

REPO = Path(__file__).resolve().parents[2]
#: Where `make run` keeps its state (tests point this elsewhere).
STACK_ROOT = LOCAL


def parse_since(value: str, now: float | None = None) -> float:
    """--since: the same forms as the API's since/until (chalicelib.queries.parse_time)."""
    try:
        return parse_time(value) if now is None else parse_time(value, lambda: now)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def shown(path: Path) -> str:
    """A path relative to the repository when it is inside it (shorter messages)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def default_stack(root: Path | None = None) -> Path:
    """.local/stack.json while its run lives, else the only live run's own stack file (see runstate)."""
    root = STACK_ROOT if root is None else root
    try:
        found = current_stack(root)
    except RunError as exc:
        raise ConfigError(str(exc)) from None
    return found or root / DEFAULT_STACK.name


def resolve_target(table: str | None, stack: Path | None, env: Mapping[str, str]) -> Target:
    """Which table to read: --table, else TABLE_NAME, else the offline stack file.

    ``stack`` is an explicit --stack path (which must exist), or None for .local/stack.json
    when present, else the stack file of the one live `make run` (several: say which to pick).
    An explicit --stack also supplies endpoint and region for --table.
    """
    stack_path = stack if stack is not None else default_stack()
    use_stack = stack is not None or (not table and not config.load(env).table and stack_path.is_file())
    if not use_stack:
        if table:
            return Target(table, "--table")
        name = config.load(env).table
        if name:
            return Target(name, f"${config.ENV_TABLE}")
        raise ConfigError(
            f"no table to read: pass --table NAME, set {config.ENV_TABLE} (a deployed stage), "
            f"or start the offline stack with `make run` (it writes {shown(DEFAULT_STACK)})")
    try:
        return stack_target(stack_path, table, env)
    except RunError as exc:
        raise ConfigError(str(exc)) from None


def open_repository(target: Target, environ: MutableMapping[str, str]) -> CommentRepository:
    """A CommentRepository on ``target``, after exporting its variables (boto3 reads them itself)."""
    import boto3  # noqa: PLC0415 - only the command line needs AWS

    from chalicelib.clients import AwsClients  # noqa: PLC0415
    from chalicelib.factory import Services  # noqa: PLC0415

    environ.update(target.env)
    session = boto3.session.Session(region_name=target.region) if target.region else None
    settings = config.Settings(table=target.table)
    return Services(settings, AwsClients(session)).repository


# -- drawing ------------------------------------------------------------------------------

