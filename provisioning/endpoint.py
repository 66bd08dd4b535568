"""The SageMaker Serverless endpoint (Hugging Face inference container): the only user of the sagemaker SDK.

The SDK is imported lazily, so ``--help``, ``--teardown`` and most tests run without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from .common import Context, DeployError, Outcome, Status

KIND = "SageMaker endpoint"
# Real AWS: a serverless endpoint takes 3-8 min to become InService.
ENDPOINT_TIMEOUT_S = 30 * 60


@dataclass(frozen=True)
class ModelSpec:
    """What the endpoint must run; the digest names the model and endpoint config."""

    image: str
    environment: dict[str, str]
    serverless: dict[str, int]
    role_arn: str

    @property
    def digest(self) -> str:
        blob = json.dumps([self.image, self.environment, self.serverless, self.role_arn], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:8]

    @property
    def ecr_repository_arn(self) -> str:
        # <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repo>:<tag>
        registry, _, path = self.image.partition("/")
        account, _, rest = registry.partition(".dkr.ecr.")
        region = rest.split(".", 1)[0]
        partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
        return f"arn:{partition}:ecr:{region}:{account}:repository/{path.split(':', 1)[0]}"


def model_spec(ctx: Context) -> ModelSpec:
    """Container definition from the SageMaker SDK (imported only here)."""
    opts = ctx.options
    # requirements-deploy.txt pins 2.x on purpose; its v3 nudge is noise here.
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
    try:
        import sagemaker  # noqa: PLC0415 - lazy: --help, --teardown and tests run without it
        from sagemaker.huggingface import HuggingFaceModel  # noqa: PLC0415
        from sagemaker.serverless import ServerlessInferenceConfig  # noqa: PLC0415
    except ImportError as exc:
        raise DeployError(
            "the SageMaker SDK is needed for the endpoint: pip install -r requirements-deploy.txt"
        ) from exc
    bucket = ctx.names.bucket
    # An explicit default_bucket and role keep the SDK from calling STS or
    # creating its own sagemaker-<region>-<account> bucket; code_location
    # stops prepare_container_def from even looking the bucket up.
    sm_session = sagemaker.Session(
        boto_session=ctx.session,
        default_bucket=bucket,
        sagemaker_config={"SchemaVersion": "1.0"},  # ignore local SDK default files
    )
    serverless = ServerlessInferenceConfig(memory_size_in_mb=opts.memory_mb, max_concurrency=opts.max_concurrency)
    try:
        model = HuggingFaceModel(
            role=ctx.sagemaker_role_arn,
            transformers_version=opts.transformers_version,
            pytorch_version=opts.pytorch_version,
            py_version=opts.py_version,
            env={"HF_MODEL_ID": opts.model_id, "HF_TASK": "text-classification"},
            sagemaker_session=sm_session,
            code_location=f"s3://{bucket}/sagemaker-code",
        )
        container = model.prepare_container_def(serverless_inference_config=serverless)
    except ValueError as exc:  # unknown version combination or region
        raise DeployError(f"Hugging Face container: {exc}") from exc
    return ModelSpec(
        image=str(container["Image"]),
        environment={str(k): str(v) for k, v in container.get("Environment", {}).items()},
        serverless=dict(serverless._to_request_dict()),
        role_arn=ctx.sagemaker_role_arn,
    )


def describe(ctx: Context) -> dict[str, Any] | None:
    return ctx.describe(lambda: ctx.sagemaker.describe_endpoint(EndpointName=ctx.names.endpoint))


def status(ctx: Context) -> str | None:
    endpoint = describe(ctx)
    return None if endpoint is None else str(endpoint["EndpointStatus"])


def deployed_matches(ctx: Context, endpoint: Mapping[str, Any], spec: ModelSpec) -> bool:
    """Does the endpoint's current config run exactly ``spec``?"""
    sm = ctx.sagemaker
    config = ctx.describe(lambda: sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"]))
    if config is None:
        return False
    variants = config["ProductionVariants"]
    if len(variants) != 1 or variants[0].get("ServerlessConfig") != spec.serverless:
        return False
    model = ctx.describe(lambda: sm.describe_model(ModelName=variants[0]["ModelName"]))
    if model is None:
        return False
    container = model.get("PrimaryContainer", {})
    return (
        container.get("Image") == spec.image
        and container.get("Environment", {}) == spec.environment
        and model.get("ExecutionRoleArn") == spec.role_arn
    )


def _wait_in_service(ctx: Context) -> None:
    ctx.wait(f"endpoint {ctx.names.endpoint} InService", lambda: status(ctx), "InService",
             timeout=ENDPOINT_TIMEOUT_S, interval=30, failed=("Failed",))


def apply(ctx: Context, spec: ModelSpec) -> list[Outcome]:
    """Create the endpoint, or roll out a new versioned model + config when ``spec`` changed."""
    from sagemaker import production_variant  # noqa: PLC0415 - lazy: see model_spec()

    sm, name = ctx.sagemaker, ctx.names.endpoint
    versioned = ctx.names.versioned_name(spec.digest)
    endpoint = describe(ctx)
    if endpoint is not None and endpoint["EndpointStatus"] == "Failed":
        raise DeployError(
            f"endpoint {name} is Failed ({endpoint.get('FailureReason', 'no reason given')}); "
            "run --teardown, fix the cause and deploy again"
        )
    detail = (
        f"{ctx.options.model_id}, {spec.serverless['MemorySizeInMB']} MB, "
        f"concurrency {spec.serverless['MaxConcurrency']}"
    )
    if endpoint is not None and deployed_matches(ctx, endpoint, spec):
        outcome = ctx.record(KIND, name, Status.UNCHANGED, endpoint["EndpointStatus"])
        if ctx.options.wait and not ctx.dry_run and endpoint["EndpointStatus"] != "InService":
            _wait_in_service(ctx)
        return [outcome]
    if ctx.dry_run:
        return [ctx.record(KIND, name, Status.CREATED if endpoint is None else Status.UPDATED, detail)]
    if endpoint is not None and endpoint["EndpointStatus"] != "InService":
        raise DeployError(f"endpoint {name} is {endpoint['EndpointStatus']}; try again when it is InService")
    if ctx.describe(lambda: sm.describe_model(ModelName=versioned)) is None:
        ctx.retry_role_propagation(
            lambda: sm.create_model(
                ModelName=versioned,
                ExecutionRoleArn=spec.role_arn,
                PrimaryContainer={"Image": spec.image, "Environment": spec.environment},
                Tags=ctx.tags(),
            )
        )
    if ctx.describe(lambda: sm.describe_endpoint_config(EndpointConfigName=versioned)) is None:
        variant = production_variant(versioned, serverless_inference_config=spec.serverless)
        sm.create_endpoint_config(EndpointConfigName=versioned, ProductionVariants=[variant], Tags=ctx.tags())
    if endpoint is None:
        sm.create_endpoint(EndpointName=name, EndpointConfigName=versioned, Tags=ctx.tags())
        outcome = ctx.record(KIND, name, Status.CREATED, detail)
    else:
        sm.update_endpoint(EndpointName=name, EndpointConfigName=versioned)
        outcome = ctx.record(KIND, name, Status.UPDATED, detail)
    if ctx.options.wait:
        _wait_in_service(ctx)
        if endpoint is not None:
            _delete_old_versions(ctx, keep=versioned)
    return [outcome]


def versioned(ctx: Context, kind: str) -> list[str]:
    """Our models or endpoint configs (NameContains is only a hint, filter exactly)."""
    base, names = ctx.names.base, ctx.names
    if kind == "model":
        pages = ctx.sagemaker.get_paginator("list_models").paginate(NameContains=base)
        return [m["ModelName"] for p in pages for m in p["Models"] if names.is_versioned_name(m["ModelName"])]
    pages_c = ctx.sagemaker.get_paginator("list_endpoint_configs").paginate(NameContains=base)
    return [
        c["EndpointConfigName"]
        for p in pages_c
        for c in p["EndpointConfigs"]
        if names.is_versioned_name(c["EndpointConfigName"])
    ]


def _delete_old_versions(ctx: Context, keep: str) -> None:
    for config in versioned(ctx, "endpoint config"):
        if config != keep:
            ctx.sagemaker.delete_endpoint_config(EndpointConfigName=config)
    for model in versioned(ctx, "model"):
        if model != keep:
            ctx.sagemaker.delete_model(ModelName=model)


def delete(ctx: Context) -> list[Outcome]:
    """The endpoint, then every versioned endpoint config and model of this stage."""
    sm, name = ctx.sagemaker, ctx.names.endpoint
    if describe(ctx) is None:
        outcomes = [ctx.record(KIND, name, Status.ABSENT)]
    else:
        outcomes = [ctx.deleted(KIND, name, lambda: sm.delete_endpoint(EndpointName=name))]
    for config in versioned(ctx, "endpoint config"):
        outcomes.append(ctx.deleted("SageMaker config", config,
                                    partial(sm.delete_endpoint_config, EndpointConfigName=config)))
    for model in versioned(ctx, "model"):
        outcomes.append(ctx.deleted("SageMaker model", model, partial(sm.delete_model, ModelName=model)))
    return outcomes
