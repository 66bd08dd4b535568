"""Run the Chalice CLI with what it needs checked first: `make package`, `make deploy`, `make api`.

Chalice reads only ``AWS_DEFAULT_REGION`` (or a profile's region), so with just
``AWS_REGION`` exported it stops with ``NoRegionError``: here ``AWS_DEFAULT_REGION``
is taken from ``AWS_REGION`` when only that is set. Before ``package``/``deploy`` the
stage's IAM policy files must exist (deploy_model.py writes them); a missing one is
named together with the command that writes it. ``api`` serves ``chalice local`` against
the offline stack of a running ``make run``, on its own port::

    python -m devtools.chalice_run package --stage dev [--out build/package]
    python -m devtools.chalice_run deploy --stage dev
    python -m devtools.chalice_run api [--port 8001] [--stack .local/runs/8000/stack.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path

from devtools.runstate import DEFAULT_STACK, LOCAL, RunError, StackMissing, check_ports, current_stack, read_stack

REPO = Path(__file__).resolve().parents[1]
CHALICE_DIR = REPO / ".chalice"
FUNCTIONS = ("ingest", "classify", "api_handler")
#: The committed `local` stage is provisioned in this region (its names and layer ARN carry it).
LOCAL_STAGE_REGION = "us-east-1"


class PreflightError(RuntimeError):
    """What is missing, and the command that provides it."""


def region_environment(env: Mapping[str, str], stage: str) -> dict[str, str]:
    """Variables to add so that Chalice finds a region; PreflightError when there is none."""
    if env.get("AWS_DEFAULT_REGION"):
        return {}
    if env.get("AWS_REGION"):
        return {"AWS_DEFAULT_REGION": env["AWS_REGION"]}
    import botocore.session  # noqa: PLC0415
    from botocore.exceptions import ProfileNotFound  # noqa: PLC0415

    session = botocore.session.Session()
    if env.get("AWS_PROFILE"):
        session.set_config_variable("profile", env["AWS_PROFILE"])
    try:
        if session.get_config_variable("region"):
            return {}  # the profile in ~/.aws/config names one
    except ProfileNotFound as exc:
        raise PreflightError(f"{exc}: check AWS_PROFILE, or run `aws configure --profile NAME`") from exc
    if stage == "local":
        return {"AWS_DEFAULT_REGION": LOCAL_STAGE_REGION}
    raise PreflightError("no AWS region: export AWS_REGION=<region> (e.g. eu-west-1), "
                         "or set one with `aws configure set region <region>`")


def policy_files(stage: str, config_file: Path) -> list[Path]:
    """The IAM policy files `chalice package/deploy --stage STAGE` will read (autogen_policy is off)."""
    try:
        config = json.loads(config_file.read_text())
    except FileNotFoundError as exc:
        raise PreflightError(f"{config_file} not found: run `python deploy_model.py --stage {stage}`") from exc
    stage_cfg = config.get("stages", {}).get(stage, {})
    files = []
    for name in FUNCTIONS:
        fn = stage_cfg.get("lambda_functions", {}).get(name, {})
        chosen = fn.get("iam_policy_file") or stage_cfg.get("iam_policy_file") or config.get("iam_policy_file")
        files.append(config_file.parent / (chosen or f"policy-{stage}.json"))
    return list(dict.fromkeys(files))


def check_stage(stage: str, config_file: Path = CHALICE_DIR / "config.json") -> None:
    """PreflightError naming the missing policy files and the command that writes them."""
    missing = [p for p in policy_files(stage, config_file) if not p.is_file()]
    if missing:
        names = ", ".join(p.name for p in missing)
        raise PreflightError(
            f"stage {stage!r} is not provisioned yet ({names} missing in {config_file.parent.name}/): "
            f"run `python deploy_model.py --stage {stage}` first; it creates the AWS resources and writes "
            "the stage's names and IAM policy files")


def offline_stack(stack: Path | None, root: Path = LOCAL) -> dict[str, str]:
    """Endpoints and fake credentials of a running `make run`, for chalice local."""
    if stack is None:
        try:
            stack = current_stack(root, option="STACK=")
        except RunError as exc:
            raise PreflightError(str(exc)) from None
        if stack is None:
            raise PreflightError("no offline stack is running: start `make run` in another terminal first")
    try:
        info = read_stack(stack)
    except StackMissing as exc:
        raise PreflightError(f"{exc} (is `make run` up?)") from exc
    except RunError as exc:
        raise PreflightError(str(exc)) from exc
    try:
        return {
            "AWS_ENDPOINT_URL": str(info["aws_endpoint_url"]),
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": str(info["sagemaker_runtime_endpoint_url"]),
            "AWS_DEFAULT_REGION": str(info.get("region") or LOCAL_STAGE_REGION),
            "AWS_REGION": str(info.get("region") or LOCAL_STAGE_REGION),
            # moto accepts any key; fake ones keep a developer's real keys away from it.
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    except KeyError as exc:
        raise PreflightError(f"cannot read stack file {stack}: {exc}") from exc


def command(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of the chalice command to run, after every check."""
    chalice = str(Path(sys.executable).with_name("chalice"))
    if not Path(chalice).exists():
        chalice = shutil.which("chalice") or "chalice"
    if args.action == "api":
        check_ports([(args.port, "chalice local", "PORT=")])
        stack = offline_stack(args.stack)
        clean = {k: v for k, v in env.items() if not k.startswith("AWS_")}
        return ([chalice, "local", "--stage", "local", "--host", "127.0.0.1", "--port", str(args.port)],
                {**clean, **stack})
    extra = region_environment(env, args.stage)
    check_stage(args.stage)
    if args.action == "package":
        # The default CloudFormation format refuses on_s3_event apps; Terraform takes them.
        argv = [chalice, "package", "--stage", args.stage, "--pkg-format", "terraform", str(args.out)]
    else:
        argv = [chalice, "deploy", "--stage", args.stage]
    return argv, {**env, **extra}


def main(argv: Sequence[str] | None = None, environ: MutableMapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    ap = argparse.ArgumentParser(prog="python -m devtools.chalice_run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="action", required=True)
    for name in ("package", "deploy"):
        p = sub.add_parser(name)
        p.add_argument("--stage", default="local" if name == "package" else "dev")
        if name == "package":
            p.add_argument("--out", type=Path, default=Path("build/package"))
    api = sub.add_parser("api", help="chalice local against the offline stack of a running `make run`")
    api.add_argument("--port", type=int, default=8001)
    api.add_argument("--stack", type=Path, default=None,
                     help=f"stack file of the run to serve (default: {DEFAULT_STACK.relative_to(REPO)}, "
                          "else the only live run)")
    args = ap.parse_args(argv)
    try:
        cmd, env = command(args, environ)
    except (PreflightError, RunError) as exc:
        print(f"{args.action}: {exc}", file=sys.stderr)
        return 2
    if args.action == "package":
        shutil.rmtree(args.out, ignore_errors=True)
    print("running: " + " ".join(["chalice", *cmd[1:]]), file=sys.stderr, flush=True)
    os.chdir(REPO)
    os.execvpe(cmd[0], cmd, env)  # noqa: S606 - the venv's chalice, with an argv we built


if __name__ == "__main__":
    sys.exit(main())
