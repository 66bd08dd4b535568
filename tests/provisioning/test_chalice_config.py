"""provisioning.chalice_config: the stage section and policy files written, foreign keys kept, removed again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provisioning import chalice_config, concurrency
from provisioning.common import Context, DeployError, Options, Status

from .conftest import make_ctx


def test_broken_config_is_refused_before_anything_happens(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(DeployError, match="not valid JSON"):
        chalice_config.ChaliceConfig(path)
    path.write_text('{"stages": []}')
    with pytest.raises(DeployError, match="'stages' is an object"):
        chalice_config.ChaliceConfig(path)


def test_apply_writes_policies_and_stage_then_delete_restores(ctx: Context) -> None:
    path = ctx.options.config_path
    path.parent.mkdir()
    original: dict[str, Any] = {"version": "2.0", "app_name": "x", "stages": {"dev": {"api_gateway_stage": "api",
                "environment_variables": {"MINE": "1"}}}}
    path.write_text(json.dumps(original))
    outcomes = chalice_config.apply(ctx, chalice_config.ChaliceConfig(path))
    assert [(o.name, o.status) for o in outcomes] == [
        ("policy-dev-ingest.json", Status.CREATED), ("policy-dev-classify.json", Status.CREATED),
        ("policy-dev-reconcile.json", Status.CREATED), ("policy-dev-api_handler.json", Status.CREATED),
        ("policy-dev-sweep.json", Status.CREATED),
        ("config.json", Status.UPDATED)]
    dev = json.loads(path.read_text())["stages"]["dev"]
    assert dev["environment_variables"]["MINE"] == "1"
    assert set(chalice_config.OWNED_ENV_KEYS) <= set(dev["environment_variables"])
    assert dev["layers"] == [chalice_config.powertools_layer_arn("us-east-1")]
    again = chalice_config.apply(ctx, chalice_config.ChaliceConfig(path))
    assert {o.status for o in again} == {Status.UNCHANGED}
    chalice_config.delete(ctx)
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.json"]
    assert json.loads(path.read_text())["stages"]["dev"] == original["stages"]["dev"]


def test_dry_run_writes_no_file(aws: None, tmp_path: Path) -> None:
    dry = make_ctx(tmp_path, dry_run=True)
    outcomes = chalice_config.apply(dry, chalice_config.ChaliceConfig(dry.options.config_path))
    assert {o.status for o in outcomes} == {Status.CREATED}
    assert not dry.options.config_path.parent.exists()


def test_concurrency_follows_the_endpoint() -> None:
    assert concurrency.classify_concurrency(Options(stage="d", region="r", max_concurrency=2)) == 2
    assert concurrency.reserved_concurrency(Options(stage="d", region="r", max_concurrency=20)) == {
        "ingest": 1, "classify": 5}
