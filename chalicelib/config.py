"""The only module that reads the environment.

Stage environment variables come from ``.chalice/config.json`` (written by
deploy_model.py). AWS endpoints are *not* configured here: boto3 reads
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` itself, which is how the
offline stack points the very same code at moto and the local model server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib import schema
from chalicelib.errors import ConfigError, MissingConfiguration

# Environment variable names (the stage keys in .chalice/config.json).
ENV_BUCKET = "BUCKET_NAME"
ENV_RAW_PREFIX = "RAW_PREFIX"
ENV_QUARANTINE_PREFIX = "QUARANTINE_PREFIX"
ENV_STREAM = "STREAM_NAME"
ENV_TABLE = "TABLE_NAME"
ENV_REDDIT_SECRET = "REDDIT_SECRET_ID"  # noqa: S105 - a variable name, not a secret  # nosec B105
ENV_CURSOR_SECRET = "CURSOR_SECRET_ID"  # noqa: S105  # nosec B105
ENV_ENDPOINT = "ENDPOINT_NAME"
ENV_MODEL_ID = "MODEL_ID"
ENV_SUBREDDITS = "SUBREDDITS"
ENV_MAX_PER_RUN = "MAX_COMMENTS_PER_RUN"
ENV_SCHEDULE_MINUTES = "SCHEDULE_MINUTES"
ENV_BATCH_SIZE = "CLASSIFY_BATCH_SIZE"
ENV_CONCURRENCY = "CLASSIFY_CONCURRENCY"
ENV_RETENTION_DAYS = "RETENTION_DAYS"
ENV_SWEEP_SHARE = "SWEEP_SHARE_PERCENT"
ENV_SWEEP_MINUTES = "SWEEP_MINUTES"
ENV_REDDIT_OAUTH_URL = "REDDIT_OAUTH_URL"
ENV_REDDIT_URL = "REDDIT_URL"
ENV_REDDIT_SHORT_URL = "REDDIT_SHORT_URL"
ENV_RECONCILE_MINUTES = "RECONCILE_MINUTES"
ENV_RECONCILE_MIN_AGE = "RECONCILE_MIN_AGE_SECONDS"
ENV_RECONCILE_LOOKBACK_HOURS = "RECONCILE_LOOKBACK_HOURS"
ENV_RECONCILE_ATTENTION_AFTER = "RECONCILE_ATTENTION_AFTER"
ENV_RECONCILE_SLOW_RETRY = "RECONCILE_SLOW_RETRY_SECONDS"
ENV_API_AUTH = "API_AUTH"
ENV_CORS_ORIGIN = "CORS_ORIGIN"
ENV_HATE_BASELINE_HOURS = "HATE_BASELINE_HOURS"

#: Placeholder so that app.py imports (and Chalice can build its decorators)
#: while BUCKET_NAME is unset, e.g. in tests or `chalice package` before
#: deploy_model.py has run.
UNSET_BUCKET = "unset-bucket"

API_AUTH_MODES = ("none", "api_key", "iam")

#: Hugging Face container bound: one request must stay under the 4 MB
#: serverless payload limit and 60 s of CPU inference.
MAX_BATCH_SIZE = 512

#: Trailing hours the hate-rate baseline spans (one BatchGetItem key per hour and series).
MIN_BASELINE_HOURS = 2
MAX_BASELINE_HOURS = 168


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _prefix(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    return value if value.endswith("/") else value + "/"


@dataclass(frozen=True)
class Settings:
    """Stage settings. Resource names may be empty until they are used."""

    bucket: str = ""
    raw_prefix: str = schema.DEFAULT_RAW_PREFIX
    quarantine_prefix: str = schema.DEFAULT_QUARANTINE_PREFIX
    stream: str = ""
    table: str = ""
    reddit_secret_id: str = ""
    cursor_secret_id: str = ""
    endpoint_name: str = ""
    model_id: str = "facebook/roberta-hate-speech-dynabench-r4-target"
    subreddits: tuple[str, ...] = ("all",)
    max_comments_per_run: int = 1000
    schedule_minutes: int = 5
    batch_size: int = 256
    concurrency: int = 4
    retention_days: int = 0
    reconcile_minutes: int = 5
    reconcile_min_age_seconds: int = 600
    #: 0 = the retention window (RETENTION_DAYS), or 7 days without retention.
    reconcile_lookback_hours: int = 0
    reconcile_attention_after: int = 3
    reconcile_slow_retry_seconds: int = 3600
    #: Share of Reddit's rate limit the deletion sweep may use, and its schedule.
    sweep_share_percent: int = 20
    sweep_minutes: int = 10
    reddit_urls: dict[str, str] = field(default_factory=dict)
    api_auth: str = "none"
    cors_origin: str = ""
    #: Hours before the last one whose hate rate is the baseline of the hate-rate alarms.
    hate_baseline_hours: int = 24

    @property
    def reconcile_lookback_seconds(self) -> int:
        """Raw objects expire with the retention rules; older ones need not be looked for."""
        if self.reconcile_lookback_hours:
            return self.reconcile_lookback_hours * 3600
        return (self.retention_days or 7) * 86_400

    def require(self, *names: str) -> None:
        """Fail with one clear message if a resource name the caller needs is unset."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            raise MissingConfiguration(tuple(missing))


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    # Reddit names are case-insensitive: one checkpoint per name, however it is spelled.
    subreddits = tuple(dict.fromkeys(
        s.strip().removeprefix("r/").lower() for s in env.get(ENV_SUBREDDITS, "all").split(",") if s.strip()
    ))
    api_auth = env.get(ENV_API_AUTH, "none").strip().lower() or "none"
    if api_auth not in API_AUTH_MODES:
        raise ConfigError(f"{ENV_API_AUTH} must be one of {', '.join(API_AUTH_MODES)}, got {api_auth!r}")
    urls = {
        key: env[name].strip()
        for key, name in (
            ("oauth_url", ENV_REDDIT_OAUTH_URL),
            ("reddit_url", ENV_REDDIT_URL),
            ("short_url", ENV_REDDIT_SHORT_URL),
        )
        if env.get(name, "").strip()
    }
    return Settings(
        bucket=env.get(ENV_BUCKET, "").strip(),
        raw_prefix=_prefix(env, ENV_RAW_PREFIX, schema.DEFAULT_RAW_PREFIX),
        quarantine_prefix=_prefix(env, ENV_QUARANTINE_PREFIX, schema.DEFAULT_QUARANTINE_PREFIX),
        stream=env.get(ENV_STREAM, "").strip(),
        table=env.get(ENV_TABLE, "").strip(),
        reddit_secret_id=env.get(ENV_REDDIT_SECRET, "").strip(),
        cursor_secret_id=env.get(ENV_CURSOR_SECRET, "").strip(),
        endpoint_name=env.get(ENV_ENDPOINT, "").strip(),
        model_id=env.get(ENV_MODEL_ID, "").strip() or Settings.model_id,
        subreddits=subreddits or ("all",),
        max_comments_per_run=_int(env, ENV_MAX_PER_RUN, 1000, 1, 100_000),
        schedule_minutes=_int(env, ENV_SCHEDULE_MINUTES, 5, 1, 1440),
        batch_size=_int(env, ENV_BATCH_SIZE, 256, 1, MAX_BATCH_SIZE),
        concurrency=_int(env, ENV_CONCURRENCY, 4, 1, 16),
        retention_days=_int(env, ENV_RETENTION_DAYS, 0, 0, 3650),
        reconcile_minutes=_int(env, ENV_RECONCILE_MINUTES, 5, 1, 1440),
        # Seconds-scale bounds serve the offline runner, which shortens every delay.
        reconcile_min_age_seconds=_int(env, ENV_RECONCILE_MIN_AGE, 600, 0, 86_400),
        reconcile_lookback_hours=_int(env, ENV_RECONCILE_LOOKBACK_HOURS, 0, 0, 24 * 3650),
        reconcile_attention_after=_int(env, ENV_RECONCILE_ATTENTION_AFTER, 3, 1, 1000),
        reconcile_slow_retry_seconds=_int(env, ENV_RECONCILE_SLOW_RETRY, 3600, 0, 7 * 86_400),
        sweep_share_percent=_int(env, ENV_SWEEP_SHARE, 20, 1, 100),
        sweep_minutes=_int(env, ENV_SWEEP_MINUTES, 10, 1, 1440),
        reddit_urls=urls,
        api_auth=api_auth,
        cors_origin=env.get(ENV_CORS_ORIGIN, "").strip(),
        hate_baseline_hours=_int(env, ENV_HATE_BASELINE_HOURS, 24, MIN_BASELINE_HOURS, MAX_BASELINE_HOURS),
    )


def decorator_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings app.py needs at import time; never fails on missing names."""
    settings = load(env)
    if not settings.bucket:
        return Settings(**{**settings.__dict__, "bucket": UNSET_BUCKET})
    return settings
