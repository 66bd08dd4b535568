"""Reads JSON secrets from Secrets Manager. Values never reach logs or errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

REDDIT_KEYS = ("client_id", "client_secret", "user_agent")


@dataclass(frozen=True)
class RedditCredentials:
    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    user_agent: str


class SecretReader:
    def __init__(self, client: SecretsManagerClient) -> None:
        self._client = client

    def json_secret(self, secret_id: str) -> dict[str, object]:
        try:
            raw = self._client.get_secret_value(SecretId=secret_id)["SecretString"]
        except (ClientError, BotoCoreError, KeyError) as exc:
            # str(exc) names the secret and the error code, never the value.
            raise ConfigError(f"cannot read secret {secret_id}: {type(exc).__name__}") from exc
        try:
            value = json.loads(raw)
        except ValueError:
            raise ConfigError(f"secret {secret_id} is not a JSON object") from None
        if not isinstance(value, dict):
            raise ConfigError(f"secret {secret_id} is not a JSON object")
        return value

    def reddit_credentials(self, secret_id: str) -> RedditCredentials:
        value = self.json_secret(secret_id)
        missing = [k for k in REDDIT_KEYS if not isinstance(value.get(k), str) or not value[k]]
        if missing:
            raise ConfigError(f"secret {secret_id} lacks {', '.join(missing)}")
        return RedditCredentials(str(value["client_id"]), str(value["client_secret"]), str(value["user_agent"]))

    def cursor_key(self, secret_id: str) -> bytes:
        try:
            raw = self._client.get_secret_value(SecretId=secret_id)["SecretString"]
        except (ClientError, BotoCoreError, KeyError) as exc:
            raise ConfigError(f"cannot read secret {secret_id}: {type(exc).__name__}") from exc
        if len(raw) < 16:
            raise ConfigError(f"secret {secret_id} is too short to sign cursors")
        return raw.encode()
