"""What Chalice deploys from: the stage section of .chalice/config.json and the Lambda policy files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chalicelib import config as cfg
from chalicelib import schema

from .common import (
    APP_NAME,
    LAMBDA_FUNCTIONS,
    POWERTOOLS_LAYER_VERSION,
    Context,
    DeployError,
    Names,
    Options,
    Outcome,
    Status,
    render_json,
)
from .concurrency import choose, classify_concurrency
from .policies import lambda_policies, policy_file_name

POWERTOOLS_LAYER_ACCOUNT = "017000801446"

#: Environment variables this script owns in .chalice/config.json; any other
#: key the user keeps there (e.g. REDDIT_OAUTH_URL) is left alone.
OWNED_ENV_KEYS = (
    cfg.ENV_BUCKET,
    cfg.ENV_RAW_PREFIX,
    cfg.ENV_QUARANTINE_PREFIX,
    cfg.ENV_STREAM,
    cfg.ENV_TABLE,
    cfg.ENV_REDDIT_SECRET,
    cfg.ENV_CURSOR_SECRET,
    cfg.ENV_ENDPOINT,
    cfg.ENV_MODEL_ID,
    cfg.ENV_SUBREDDITS,
    cfg.ENV_SCHEDULE_MINUTES,
    cfg.ENV_RETENTION_DAYS,
    cfg.ENV_SWEEP_SHARE,
    cfg.ENV_SWEEP_MINUTES,
    cfg.ENV_MAX_PER_RUN,
    cfg.ENV_BATCH_SIZE,
    cfg.ENV_CONCURRENCY,
    cfg.ENV_API_AUTH,
    cfg.ENV_HATE_BASELINE_HOURS,
)


def powertools_layer_arn(region: str, version: int = POWERTOOLS_LAYER_VERSION) -> str:
    """The managed Powertools layer for python3.11 on x86_64 in ``region`` (aws partition)."""
    return (f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
            f"AWSLambdaPowertoolsPythonV3-python311-x86_64:{version}")


def environment_variables(names: Names, options: Options) -> dict[str, str]:
    return {
        cfg.ENV_BUCKET: names.bucket,
        cfg.ENV_RAW_PREFIX: schema.DEFAULT_RAW_PREFIX,
        cfg.ENV_QUARANTINE_PREFIX: schema.DEFAULT_QUARANTINE_PREFIX,
        cfg.ENV_STREAM: names.stream,
        cfg.ENV_TABLE: names.table,
        cfg.ENV_REDDIT_SECRET: names.reddit_secret,
        cfg.ENV_CURSOR_SECRET: names.cursor_secret,
        cfg.ENV_ENDPOINT: names.endpoint,
        cfg.ENV_MODEL_ID: options.model_id,
        cfg.ENV_SUBREDDITS: options.subreddits,
        cfg.ENV_SCHEDULE_MINUTES: str(options.schedule_minutes),
        cfg.ENV_RETENTION_DAYS: str(options.retention_days),
        cfg.ENV_SWEEP_SHARE: str(options.sweep_share_percent),
        cfg.ENV_SWEEP_MINUTES: str(options.sweep_minutes),
        cfg.ENV_MAX_PER_RUN: str(options.max_comments_per_run),
        cfg.ENV_BATCH_SIZE: str(options.batch_size),
        # Parallel endpoint requests per Lambda; more than the endpoint's
        # MaxConcurrency would only be throttled.
        cfg.ENV_CONCURRENCY: str(classify_concurrency(options)),
        cfg.ENV_API_AUTH: options.api_auth,
        cfg.ENV_HATE_BASELINE_HOURS: str(options.alert_baseline_hours),
    }


class ChaliceConfig:
    """Edits .chalice/config.json in place, keeping every key it does not own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.original = path.read_text() if path.exists() else None
        if self.original is None:
            self.data: dict[str, Any] = {"version": "2.0", "app_name": APP_NAME, "stages": {}}
        else:
            try:
                loaded = json.loads(self.original)
            except json.JSONDecodeError as exc:
                raise DeployError(f"{path} is not valid JSON: {exc}") from exc
            if not isinstance(loaded, dict) or not isinstance(loaded.get("stages", {}), dict):
                raise DeployError(f"{path} must be a JSON object whose 'stages' is an object")
            self.data = loaded

    def _section(self, parent: dict[str, Any], key: str) -> dict[str, Any]:
        value = parent.setdefault(key, {})
        if not isinstance(value, dict):
            raise DeployError(f"{self.path}: {key!r} must be an object")
        return value

    def stage(self, stage: str) -> dict[str, Any]:
        return self._section(self._section(self.data, "stages"), stage)

    def apply(self, stage: str, env: Mapping[str, str], policy_files: Mapping[str, str], layer: str,
              reserved: Mapping[str, int]) -> None:
        self.data["autogen_policy"] = False
        section = self.stage(stage)
        section["layers"] = [layer]
        self._section(section, "environment_variables").update(env)
        functions = self._section(section, "lambda_functions")
        for function, file_name in policy_files.items():
            self._section(functions, function)["iam_policy_file"] = file_name
        for function in LAMBDA_FUNCTIONS:
            # Without a key Chalice removes the function's reservation (DeleteFunctionConcurrency).
            entry = self._section(functions, function)
            if function in reserved:
                entry["reserved_concurrency"] = reserved[function]
            else:
                entry.pop("reserved_concurrency", None)

    def remove(self, stage: str) -> None:
        """Drop the keys this script wrote for ``stage``; the stage itself stays."""
        stages = self.data.get("stages", {})
        section = stages.get(stage)
        if not isinstance(section, dict):
            return
        section.pop("layers", None)
        env = section.get("environment_variables")
        if isinstance(env, dict):
            for key in OWNED_ENV_KEYS:
                env.pop(key, None)
        functions = section.get("lambda_functions")
        if isinstance(functions, dict):
            for function in LAMBDA_FUNCTIONS:
                entry = functions.get(function)
                if isinstance(entry, dict):
                    entry.pop("iam_policy_file", None)
                    entry.pop("reserved_concurrency", None)
                    if not entry:
                        del functions[function]
            if not functions:
                del section["lambda_functions"]

    def render(self) -> str:
        return render_json(self.data)


def write(ctx: Context, kind: str, path: Path, content: str) -> Outcome:
    """Write ``content`` to ``path`` unless it is already there (or this is a dry run)."""
    if path.exists():
        if path.read_text() == content:
            return ctx.record(kind, path.name, Status.UNCHANGED)
        status = Status.UPDATED
    else:
        status = Status.CREATED
    if not ctx.dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return ctx.record(kind, path.name, status)


def apply(ctx: Context, chalice_config: ChaliceConfig) -> list[Outcome]:
    """The policy files, then the stage's section of the (already loaded) config."""
    opts = ctx.options
    outcomes, files = [], {}
    for function, policy in lambda_policies(ctx.names).items():
        file_name = policy_file_name(opts.stage, function)
        outcomes.append(write(ctx, "Lambda policy", opts.policy_dir / file_name, render_json(policy)))
        files[function] = file_name
    concurrency = choose(ctx)
    chalice_config.apply(opts.stage, environment_variables(ctx.names, opts), files,
                         powertools_layer_arn(opts.region, opts.powertools_layer_version), concurrency.reserved)
    outcomes.append(write(ctx, "Chalice config", opts.config_path, chalice_config.render()))
    ctx.note("Lambda concurrency", concurrency.describe())
    return outcomes


def delete(ctx: Context) -> list[Outcome]:
    outcomes = []
    for function in LAMBDA_FUNCTIONS:
        path = ctx.options.policy_dir / policy_file_name(ctx.options.stage, function)
        if not path.exists():
            continue
        if not ctx.dry_run:
            path.unlink()
        outcomes.append(ctx.record("Lambda policy", path.name, Status.DELETED))
    path = ctx.options.config_path
    if not path.exists():
        return outcomes
    chalice_config = ChaliceConfig(path)
    chalice_config.remove(ctx.options.stage)
    outcomes.append(write(ctx, "Chalice config", path, chalice_config.render()))
    return outcomes
