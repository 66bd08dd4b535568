"""The retention guarantee: raw/ (and quarantine/, errors/) expire after the same number of days as the table's TTL."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

import deploy_model
from chalicelib import config
from chalicelib.models import Comment, LabeledComment, Prediction
from chalicelib.repository import to_item
from provisioning.bucket import EXPIRING_PREFIXES
from tests.conftest import REGION


@pytest.mark.parametrize("days", [7, 30])
def test_lifecycle_rules_match_the_ttl_written_for_the_table(aws: None, tmp_path: Path, days: int) -> None:
    cfg_path = tmp_path / ".chalice" / "config.json"
    cfg_path.parent.mkdir()
    cfg_path.write_text(json.dumps({"version": "2.0", "app_name": "reddit-hate-watch", "stages": {}}))
    session = boto3.Session(region_name=REGION)
    assert deploy_model.main(["--stage", "dev", "--config", str(cfg_path), "--no-wait",
                              "--retention-days", str(days)], session=session) == 0
    env = json.loads(cfg_path.read_text())["stages"]["dev"]["environment_variables"]
    settings = config.load(env)
    assert settings.retention_days == days
    rules = session.client("s3").get_bucket_lifecycle_configuration(Bucket=settings.bucket)["Rules"]
    expiry = {rule["Filter"]["Prefix"]: rule["Expiration"]["Days"] for rule in rules if rule["Status"] == "Enabled"}
    assert expiry == dict.fromkeys(EXPIRING_PREFIXES, days)
    assert settings.raw_prefix in expiry
    # The TTL a stored comment gets from the same setting.
    comment = Comment("x", "t1_x", "s", "a", "b", 1.0, "/r/s/comments/y/_/x/", "t3_y", "t3_y", 2.0)
    labeled = LabeledComment(comment, Prediction("hate", 0.9, "m"), classified_at=1_000.0)
    item = to_item(labeled, settings.retention_days)
    assert item["expires_at"] == 1_000 + days * 86_400
