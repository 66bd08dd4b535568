"""Measurement 4: the Lambda deployment package and the cold import time of app.py."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
_IMPORT = "import time, sys; t = time.perf_counter(); import app; print((time.perf_counter() - t) * 1000)"
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: no stage variables, fake credentials, no bytecode writing."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("AWS_", "REDDIT_", "PYTHON")) and k not in {"BUCKET_NAME", "TABLE_NAME"}}
    return {**keep, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "PYTHONDONTWRITEBYTECODE": "1", **(extra or {})}


def package(out_dir: Path) -> Path:
    """``chalice package --pkg-format terraform --stage local``; returns the zip's path.

    Chalice downloads the wheels in requirements.txt from PyPI the first time and
    caches the result in .chalice/deployments/.
    """
    chalice = Path(sys.executable).with_name("chalice")
    result = subprocess.run([str(chalice), "package", "--pkg-format", "terraform", "--stage", "local", str(out_dir)],
                            cwd=REPO, env=_env(), capture_output=True, text=True, timeout=240, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"chalice package failed: {result.stderr.strip()[-500:]}")
    return out_dir / "deployment.zip"


def zip_breakdown(path: Path) -> dict[str, Any]:
    """Compressed bytes per top-level package (dist-info folded into its package)."""
    parts: Counter[str] = Counter()
    unpacked = 0
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            top = info.filename.split("/", 1)[0]
            top = re.sub(r"-[^-]+\.dist-info$", "", top).removesuffix(".py").lower().replace("-", "_")
            parts[top] += info.compress_size
            unpacked += info.file_size
    return {"bytes": path.stat().st_size, "unpacked_bytes": unpacked, "by_package": dict(parts.most_common())}


def _import_ms(pythonpath: str | None, cwd: Path) -> float:
    env = _env({"PYTHONPATH": pythonpath} if pythonpath else None)
    out = subprocess.run([sys.executable, "-c", _IMPORT], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def import_times(runs: int, zip_path: Path | None) -> dict[str, Any]:
    """Median in-process ``import app`` time in fresh interpreters.

    ``repo``: from the repository with the venv's compiled site-packages (what
    the brief asks). ``zip``: from the unpacked deployment package, which holds
    no .pyc files, so every shipped module is compiled on import, as on Lambda
    (its /var/task is read-only); boto3 and botocore still come from the venv,
    as they come precompiled with the Lambda runtime.
    """
    result: dict[str, Any] = {}
    _import_ms(None, REPO)  # warm the OS file cache, not counted
    repo = [_import_ms(None, REPO) for _ in range(runs)]
    result["repo_ms"] = [round(x, 1) for x in repo]
    result["repo_median_ms"] = round(statistics.median(repo), 1)
    if zip_path is not None:
        with tempfile.TemporaryDirectory(prefix="bench-zip-") as tmp:
            with zipfile.ZipFile(zip_path) as z:
                z.extractall(tmp)
            site = [p for p in sys.path if p.endswith("site-packages")]
            path = os.pathsep.join([tmp, *site])
            _import_ms(path, Path(tmp))
            from_zip = [_import_ms(path, Path(tmp)) for _ in range(runs)]
        result["zip_ms"] = [round(x, 1) for x in from_zip]
        result["zip_median_ms"] = round(statistics.median(from_zip), 1)
    result["top_imports_ms"] = top_imports()
    return result


def top_imports(count: int = 10) -> dict[str, float]:
    """The heaviest modules imported by ``import app`` (cumulative, from -X importtime)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=REPO, env=_env(),
                         capture_output=True, text=True, timeout=120, check=True)
    totals: dict[str, float] = {}
    for line in out.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match and len(match.group(3)) <= 5:  # app.py's own imports and theirs
            totals[match.group(4)] = int(match.group(2)) / 1000
    totals.pop("app", None)
    return {k: round(v, 1) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])[:count]}


def measure(runs: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-pkg-") as tmp:
        try:
            zip_path = package(Path(tmp) / "out")
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            return {"error": str(exc), "imports": import_times(runs, None)}
        result = zip_breakdown(zip_path)
        result["imports"] = import_times(runs, zip_path)
    return result
