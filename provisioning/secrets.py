"""The two Secrets Manager secrets: Reddit credentials (from REDDIT_* or placeholders) and the cursor HMAC key.

Values are written and compared, never printed.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from .common import REDDIT_KEYS, Context, Outcome, Status

KIND = "secret"
PLACEHOLDER = "REPLACE_ME"
SECRET_RECOVERY_DAYS = 7  # the minimum AWS allows


def describe(ctx: Context, name: str) -> dict[str, Any] | None:
    return ctx.describe(lambda: ctx.secretsmanager.describe_secret(SecretId=name))


def _create(ctx: Context, name: str, value: str, description: str) -> None:
    ctx.secretsmanager.create_secret(Name=name, SecretString=value, Description=description, Tags=ctx.tags())


def _secret_json(ctx: Context, name: str) -> dict[str, str] | None:
    raw = ctx.secretsmanager.get_secret_value(SecretId=name).get("SecretString", "")
    try:
        value = json.loads(raw)
    except ValueError:  # not JSON: treat like a secret that still needs filling
        return None
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None


def apply_reddit(ctx: Context) -> tuple[Outcome, bool]:
    """The Reddit secret's outcome, and whether it still needs real values (for the next-steps hint)."""
    name = ctx.names.reddit_secret
    creds = ctx.options.reddit
    described = describe(ctx, name)
    if described is None:
        if not ctx.dry_run:
            value = creds.as_dict() if creds else dict.fromkeys(REDDIT_KEYS, PLACEHOLDER)
            _create(ctx, name, json.dumps(value), "Reddit API credentials (PRAW script app)")
        return ctx.record(KIND, name, Status.CREATED, "" if creds else "placeholder values"), creds is None
    restored = bool(described.get("DeletedDate"))
    if restored:
        if ctx.dry_run:  # a secret pending deletion cannot be read
            return ctx.record(KIND, name, Status.UPDATED, "restore from pending deletion"), False
        ctx.secretsmanager.restore_secret(SecretId=name)
    current = _secret_json(ctx, name)
    if creds is not None and current != creds.as_dict():
        if not ctx.dry_run:
            ctx.secretsmanager.put_secret_value(SecretId=name, SecretString=json.dumps(creds.as_dict()))
        return ctx.record(KIND, name, Status.UPDATED, "new credentials from REDDIT_* variables"), False
    needs_values = creds is None and (current is None or PLACEHOLDER in current.values())
    detail = "restored" if restored else ("still placeholder values" if needs_values else "")
    return ctx.record(KIND, name, Status.UPDATED if restored else Status.UNCHANGED, detail), needs_values


def apply_cursor(ctx: Context) -> Outcome:
    name = ctx.names.cursor_secret
    described = describe(ctx, name)
    if described is None:
        if not ctx.dry_run:
            # Signs API pagination cursors; generated once, never rotated here.
            _create(ctx, name, secrets.token_hex(32), "HMAC key for REST API pagination cursors")
        return ctx.record(KIND, name, Status.CREATED)
    if described.get("DeletedDate"):
        if not ctx.dry_run:
            ctx.secretsmanager.restore_secret(SecretId=name)
        return ctx.record(KIND, name, Status.UPDATED, "restored")
    return ctx.record(KIND, name, Status.UNCHANGED)


def apply(ctx: Context) -> list[Outcome]:
    return [apply_reddit(ctx)[0], apply_cursor(ctx)]


def delete_one(ctx: Context, name: str) -> Outcome:
    force = ctx.options.force
    described = describe(ctx, name)
    if described is None or (described.get("DeletedDate") and not force):
        return ctx.record(KIND, name, Status.ABSENT)
    window = "" if force else f"recoverable for {SECRET_RECOVERY_DAYS} days; a new deploy restores it"
    if not ctx.dry_run:
        if force:
            ctx.secretsmanager.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        else:
            ctx.secretsmanager.delete_secret(SecretId=name, RecoveryWindowInDays=SECRET_RECOVERY_DAYS)
    return ctx.record(KIND, name, Status.DELETED, window)


def delete(ctx: Context) -> list[Outcome]:
    return [delete_one(ctx, name) for name in (ctx.names.reddit_secret, ctx.names.cursor_secret)]
