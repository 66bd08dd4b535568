"""The one module that reads the environment."""

from __future__ import annotations

import pytest

from chalicelib import config
from chalicelib.errors import ConfigError


def test_defaults_when_nothing_is_set() -> None:
    s = config.load({})
    assert (s.subreddits, s.batch_size, s.concurrency, s.retention_days, s.api_auth) == (("all",), 256, 4, 0, "none")
    assert (s.raw_prefix, s.quarantine_prefix) == ("raw/", "quarantine/")


def test_subreddits_are_normalised_once_each() -> None:
    s = config.load({config.ENV_SUBREDDITS: " r/News, news,AskReddit ,, askreddit"})
    assert s.subreddits == ("news", "askreddit")


@pytest.mark.parametrize("name, value", [
    (config.ENV_BATCH_SIZE, "0"), (config.ENV_BATCH_SIZE, "513"), (config.ENV_CONCURRENCY, "many"),
    (config.ENV_SCHEDULE_MINUTES, "-1"), (config.ENV_API_AUTH, "basic"),
])
def test_bad_values_fail_with_the_variable_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        config.load({name: value})


def test_prefixes_gain_a_slash_and_reddit_urls_are_optional() -> None:
    s = config.load({config.ENV_RAW_PREFIX: "incoming", config.ENV_REDDIT_OAUTH_URL: "http://127.0.0.1:9"})
    assert s.raw_prefix == "incoming/" and s.reddit_urls == {"oauth_url": "http://127.0.0.1:9"}


def test_require_names_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="stream, table"):
        config.load({}).require("stream", "table")


def test_decorators_get_a_placeholder_bucket_before_deploy() -> None:
    assert config.decorator_settings({}).bucket == config.UNSET_BUCKET
    assert config.decorator_settings({config.ENV_BUCKET: "b"}).bucket == "b"
