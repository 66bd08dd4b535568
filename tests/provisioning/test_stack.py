"""provisioning.stack: the deploy order and the next-steps summary (the full CLI run is in test_deploy_model*.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from provisioning import stack
from provisioning.common import Context, DeployError

from .conftest import make_ctx


def test_teardown_of_nothing_reports_every_resource_absent(ctx: Context, lines: list[str]) -> None:
    outcomes = stack.teardown(ctx)
    kinds = [o.kind for o in outcomes]
    assert kinds == ["API usage plan", "API key", "SNS topic", "SageMaker endpoint", "IAM role", "Firehose stream",
                     "IAM role", "DynamoDB table", "secret", "secret", "S3 bucket"]
    assert lines[0].startswith("Tearing down stage 'dev': account 123456789012")


def test_deploy_refuses_a_broken_config_before_any_aws_call(aws: None, tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    ctx.options.config_path.parent.mkdir()
    ctx.options.config_path.write_text("[")
    with pytest.raises(DeployError, match="not valid JSON"):
        stack.deploy(ctx)
    assert ctx.outcomes == [] and "names" not in vars(ctx)  # not even STS was asked


def test_chalicelib_never_imports_provisioning() -> None:
    """Lambda ships chalicelib/ without provisioning/; an import would fail there."""
    root = Path(__file__).resolve().parents[2] / "chalicelib"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not any(m.split(".")[0] in {"provisioning", "deploy_model"} for m in modules), path
