"""The order in which one stage's resources are applied and deleted, and the closing summary."""

from __future__ import annotations

from chalicelib import config as cfg

from . import alarms, api_key, bucket, chalice_config, endpoint, policies, roles, secrets, stream, table
from .common import Context, DeployError, Outcome, Status


def deploy(ctx: Context) -> list[Outcome]:
    opts, dry = ctx.options, ctx.dry_run
    config = chalice_config.ChaliceConfig(opts.config_path)  # fail on a broken file before touching AWS
    names = ctx.names
    banner = f"Stage {opts.stage!r}: account {names.account}, region {ctx.region}"
    ctx.out(banner + (" (dry run: nothing will be changed)" if dry else ""))
    spec = endpoint.model_spec(ctx)
    bucket.apply(ctx)
    roles.apply(ctx, names.firehose_role, policies.firehose_trust_policy(names),
                policies.firehose_role_policy(names), roles.FIREHOSE_SERVICE)
    stream.apply(ctx)
    table.apply(ctx)
    _, reddit_needs_values = secrets.apply_reddit(ctx)
    secrets.apply_cursor(ctx)
    if opts.role_arn is None:
        roles.apply(ctx, names.sagemaker_role, policies.sagemaker_trust_policy(names),
                    policies.sagemaker_role_policy(names, spec), roles.SAGEMAKER_SERVICE)
    endpoint.apply(ctx, spec)
    chalice_config.apply(ctx, config)
    alarms.apply(ctx)
    summary(ctx, reddit_needs_values)
    return ctx.outcomes


def summary(ctx: Context, reddit_needs_values: bool) -> None:
    names, stage = ctx.names, ctx.options.stage
    if all(o.status is Status.UNCHANGED for o in ctx.outcomes):
        ctx.out("nothing changed")
    if ctx.dry_run:
        ctx.out("dry run: nothing was changed; run again without --dry-run to apply")
        return
    ctx.out("")
    ctx.out(f"bucket {names.bucket}, stream {names.stream}, table {names.table}, endpoint {names.endpoint}")
    ctx.out("Next steps:")
    step = 1
    if reddit_needs_values:
        ctx.out(
            f"  {step}. Fill the Reddit secret: write reddit.json with the keys client_id, client_secret, "
            "user_agent, then\n"
            f"     aws secretsmanager put-secret-value --secret-id {names.reddit_secret} "
            "--secret-string file://reddit.json\n"
            "     (or set REDDIT_CLIENT_ID / REDDIT_CLIENT_SECRET / REDDIT_USER_AGENT and re-run this script)"
        )
        step += 1
    ctx.out(f"  {step}. chalice deploy --stage {stage}")
    if ctx.options.api_auth == "api_key":
        ctx.out(f"  {step + 1}. python deploy_model.py --stage {stage} --api-key   (usage plan + API key)")


def api_access(ctx: Context) -> list[Outcome]:
    """After `chalice deploy`: the stage's usage plan and API key (only meaningful with API_AUTH=api_key)."""
    opts = ctx.options
    config = chalice_config.ChaliceConfig(opts.config_path)
    env = config.stage(opts.stage).get("environment_variables", {})
    ctx.out(f"Stage {opts.stage!r}: API key access, account {ctx.names.account}, region {ctx.region}"
            + (" (dry run: nothing will be changed)" if ctx.dry_run else ""))
    if env.get(cfg.ENV_API_AUTH) != "api_key":
        ctx.out(f"  note: the stage's {cfg.ENV_API_AUTH} is {env.get(cfg.ENV_API_AUTH)!r}, so API Gateway will not "
                "ask for this key; deploy the stage with --api-auth api_key")
    outcomes = api_key.apply(ctx, config.data)
    if ctx.dry_run:
        ctx.out("dry run: nothing was changed; run again without --dry-run to apply")
    return outcomes


def teardown(ctx: Context) -> list[Outcome]:
    names = ctx.names
    ctx.out(
        f"Tearing down stage {ctx.options.stage!r}: account {names.account}, region {ctx.region}"
        + (" (dry run: nothing will be deleted)" if ctx.dry_run else "")
    )
    bucket_exists = bucket.exists(ctx)
    if bucket_exists and not ctx.options.force and bucket.has_objects(ctx):
        raise DeployError(f"bucket {names.bucket} still holds objects; re-run with --force to empty and delete it")
    api_key.delete(ctx)
    alarms.delete(ctx)
    endpoint.delete(ctx)
    roles.delete(ctx, names.sagemaker_role)
    stream.delete(ctx)
    roles.delete(ctx, names.firehose_role)
    table.delete(ctx)
    secrets.delete(ctx)
    bucket.delete(ctx, present=bucket_exists)
    chalice_config.delete(ctx)
    if ctx.dry_run:
        ctx.out("dry run: nothing was deleted")
    return ctx.outcomes
