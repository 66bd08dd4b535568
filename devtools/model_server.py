"""Local stand-in for the SageMaker runtime (and the Hugging Face inference container).

Speaks just enough of both protocols for the app and boto3's ``sagemaker-runtime`` client::

    python -m devtools.model_server --port 8081 [--endpoint-name NAME] [--backend embedded|transformers]
    export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8081

Routes:
- ``POST /endpoints/{name}/invocations`` (SageMaker runtime InvokeEndpoint) and
  ``POST /invocations`` (container contract): body ``{"inputs": str | [str], "parameters": {...}}``,
  answer ``[{"label": "hate"|"nothate", "score": float}, ...]`` in input order. With
  ``parameters.top_k`` set (``null`` = all labels) every input gets a list of label dicts sorted
  by score, like the HF text-classification pipeline (a single string input then gives one flat
  list, also like HF). The header ``X-Amzn-SageMaker-Custom-Attributes: model=<model id>`` says
  which model answered; boto3 returns it as ``response["CustomAttributes"]``.
- ``GET /ping``: 200 when the model is loaded.

Errors are shaped like the real service so botocore raises the same exceptions. The Hugging Face
toolkit turns *every* exception of the container (a bad payload, a model that failed to load, out
of memory) into HTTP 400 with the body ``{"code": 400, "type": "InternalServerException",
"message": ...}`` (handler_service.handle raises PredictionException(str(e), 400)), and it refuses
any Content-Type that is not exactly ``application/json`` (its decoder looks the type up as is, so
``application/json; charset=utf-8`` fails too). SageMaker hands that to the caller as
``ModelError`` (HTTP 424, ``x-amzn-ErrorType: ModelError:...``, OriginalStatusCode 400,
OriginalMessage the container's body). With ``--endpoint-name`` set any other endpoint name gives
``ValidationError`` ("Endpoint X of account 123456789012 not found.").

``--outage-seconds N`` imitates an endpoint outage for N seconds from the first invocation: the
first third answers ``ModelNotReadyException`` (HTTP 429, what a serverless endpoint answers
while its resources are provisioned, i.e. a cold start), the rest the container's 400 for a
model that cannot serve. ``GET /outage`` reports the phase and the requests refused so far.

The default ``embedded`` backend is the numpy model in devtools/hatemodel (see MODEL.md). The
optional ``transformers`` backend runs the production model with a local transformers + torch
install and locally cached weights; it never downloads anything.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import unquote

from devtools.hatemodel import load

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
MAX_TEXT_CHARS = 20_000  # longer texts are cut, not rejected (the HF container truncates tokens)
MAX_BODY_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's documented payload limit
PRODUCTION_MODEL = "facebook/roberta-hate-speech-dynabench-r4-target"
_INVOKE_RE = re.compile(r"^/endpoints/([^/]+)/invocations$")

Prediction = list[dict[str, Any]] | list[list[dict[str, Any]]]


class Backend(Protocol):
    model_id: str

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """For each text, the probability of every label (``{"hate": p, "nothate": 1 - p}``)."""
        ...


class EmbeddedBackend:
    """The numpy TF-IDF + logistic regression model shipped in devtools/hatemodel."""

    def __init__(self, model_path: str | None = None) -> None:
        self._model = load(model_path)
        self.model_id = self._model.model_id

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [{"hate": float(p), "nothate": float(1.0 - p)} for p in self._model.predict_proba(texts)]


class TransformersBackend:
    """The production model through a transformers pipeline (optional, never installed by default)."""

    def __init__(self, model: str = PRODUCTION_MODEL) -> None:
        # Never reach the network: weights must already be in the local HF cache or a folder.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from transformers import pipeline  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415 - optional
        except ImportError as exc:
            raise RuntimeError(
                "the 'transformers' backend needs `pip install transformers torch` (not part of the "
                "project requirements) and the model weights available locally; "
                "use --backend embedded for the bundled offline model"
            ) from exc
        try:
            self._pipe = pipeline("text-classification", model=model, tokenizer=model)
        except Exception as exc:  # any loader failure gets the same clear hint
            raise RuntimeError(
                f"could not load {model!r} offline ({exc}); download it once with "
                f"`huggingface-cli download {PRODUCTION_MODEL}` or pass --model PATH to a local copy"
            ) from exc
        self.model_id = model

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        out: Any = self._pipe(list(texts), truncation=True, top_k=None)  # transformers is untyped
        return [{d["label"]: float(d["score"]) for d in row} for row in out]


class PayloadError(ValueError):
    """The request body is not a valid inference payload (reported as the model's 400)."""


_TOP_K_DEFAULT = object()


def parse_payload(body: bytes) -> tuple[list[str], bool, Any]:
    """Return (texts, single_string_input, top_k) or raise PayloadError."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "inputs" not in data:
        raise PayloadError('request body must be a JSON object with an "inputs" key')
    inputs = data["inputs"]
    single = isinstance(inputs, str)
    texts = [inputs] if single else inputs
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise PayloadError('"inputs" must be a string or a list of strings')
    params = data.get("parameters") or {}
    if not isinstance(params, dict):
        raise PayloadError('"parameters" must be a JSON object')
    top_k: Any = _TOP_K_DEFAULT
    if "top_k" in params:
        top_k = params["top_k"]
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise PayloadError('"parameters.top_k" must be a positive integer or null')
    return [t[:MAX_TEXT_CHARS] for t in texts], single, top_k


def format_predictions(scores: list[dict[str, float]], single: bool, top_k: Any) -> Prediction:
    """Shape label scores like the HF text-classification pipeline / inference container."""
    ranked = [
        [{"label": k, "score": v} for k, v in sorted(s.items(), key=lambda kv: -kv[1])] for s in scores
    ]
    if top_k is _TOP_K_DEFAULT:
        return [r[0] for r in ranked]
    cut = [r if top_k is None else r[:top_k] for r in ranked]
    return cut[0] if single else cut


#: The one request Content-Type the toolkit's JSON decoder accepts (an exact dict lookup).
JSON_TYPE = "application/json"


def container_error(message: str) -> str:
    """The body the Hugging Face container (multi-model-server) answers for any exception."""
    return json.dumps({"code": 400, "type": "InternalServerException", "message": message})


class Outage:
    """An endpoint outage of ``seconds`` from the first invocation (thread-safe)."""

    def __init__(self, seconds: float, clock: Any = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._started: float | None = None
        self._lock = threading.Lock()
        self.refused: Counter[str] = Counter()

    def phase(self) -> str | None:
        """"not_ready" (serverless cold start), "failing" (container 400) or None (serving)."""
        with self._lock:
            if self.seconds <= 0:
                return None
            now = self._clock()
            if self._started is None:
                self._started = now
            elapsed = now - self._started
            if elapsed >= self.seconds:
                return None
            phase = "not_ready" if elapsed < self.seconds / 3 else "failing"
            self.refused[phase] += 1
            return phase

    def status(self) -> dict[str, Any]:
        with self._lock:
            elapsed = None if self._started is None else self._clock() - self._started
            return {"seconds": self.seconds, "elapsed": elapsed, "refused": dict(self.refused),
                    "over": elapsed is not None and elapsed >= self.seconds}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    # Headers and body go out in two sends; with Nagle on, the second waits for the
    # client's delayed ACK (~40 ms a call on a kept-alive connection).
    disable_nagle_algorithm = True
    server: _Server
    _started = 0.0

    def log_message(self, format: str, *args: Any) -> None:
        pass  # replaced by one line per request in _log (never with bodies)

    def _log(self, status: int, extra: str = "") -> None:
        ms = (time.perf_counter() - self._started) * 1000
        sys.stderr.write(f"model_server {self.command} {self.path} {status} {ms:.1f}ms{extra}\n")

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None, log: str = "") -> None:
        body = json.dumps(payload).encode("utf-8")
        # Log before writing: once the client has its answer, the line is already out.
        self._log(status, log)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _model_error(self, endpoint: str, original_status: int, message: str) -> None:
        # What SageMaker returns when the container answers 4xx/5xx: HTTP 424, code ModelError.
        kind = "client" if original_status < 500 else "server"
        log_group = f"/aws/sagemaker/Endpoints/{endpoint}"
        self._send(
            424,
            {
                "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
                "LogStreamArn": "",
                "OriginalMessage": message,
                "OriginalStatusCode": original_status,
                "Message": (
                    f'Received {kind} error ({original_status}) from primary with message "{message}". '
                    f"See https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#logEventViewer:"
                    f"group={log_group} in account {ACCOUNT_ID} for more information."
                ),
            },
            {"x-amzn-ErrorType": "ModelError:http://internal.amazon.com/coral/com.amazonaws.sagemaker/"},
            f" ModelError({original_status})",
        )

    def _not_ready(self, endpoint: str) -> None:
        # The serverless front, not the container: botocore raises ModelNotReadyException.
        self._send(
            429,
            {"message": f"Model for endpoint {endpoint} is not ready: the serverless endpoint variant's "
                        "resources are still being provisioned. Wait and try your request again."},
            {"x-amzn-ErrorType": "ModelNotReadyException:http://internal.amazon.com/coral/com.amazonaws.sagemaker/"},
            " ModelNotReady",
        )

    def _validation_error(self, message: str) -> None:
        self._send(
            400,
            {"message": message},
            {"x-amzn-ErrorType": "ValidationError:http://internal.amazon.com/coral/com.amazon.coral.validate/"},
        )

    def do_GET(self) -> None:
        self._started = time.perf_counter()
        path = self.path.split("?", 1)[0]
        if path == "/ping":
            self._send(200, {"status": "ok", "model": self.server.backend.model_id})
        elif path == "/outage":
            self._send(200, self.server.outage.status())
        else:
            self._send(404, {"message": f"not found: {self.path}"})

    def do_POST(self) -> None:
        self._started = time.perf_counter()
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read, so the connection is unusable
            self._validation_error(f"Request payload of {length} bytes exceeds the {MAX_BODY_BYTES} byte limit.")
            return
        body = self.rfile.read(length) if length else b""

        match = _INVOKE_RE.match(path)
        if match:
            endpoint = unquote(match.group(1))
            wanted = self.server.endpoint_name
            if wanted is not None and endpoint != wanted:
                self._validation_error(f"Endpoint {endpoint} of account {ACCOUNT_ID} not found.")
                return
        elif path == "/invocations":
            endpoint = self.server.endpoint_name or "local"
        else:
            self._send(404, {"message": f"not found: {path}"})
            return

        phase = self.server.outage.phase()
        if phase == "not_ready":
            self._not_ready(endpoint)
            return
        backend = self.server.backend
        try:
            if phase == "failing":
                raise RuntimeError("Could not load model /opt/ml/model with any of the following classes: "
                                   "(AutoModelForSequenceClassification,) (endpoint outage)")
            content_type = self.headers.get("Content-Type", "")
            if content_type != JSON_TYPE:
                raise PayloadError(f"Content type {content_type} is not supported by this framework.")
            texts, single, top_k = parse_payload(body)
            result = format_predictions(backend.scores(texts), single, top_k)
        except Exception as exc:  # the toolkit answers 400 for every exception
            self._model_error(endpoint, 400, container_error(str(exc)))
            return
        self._send(
            200,
            result,
            {
                "X-Amzn-SageMaker-Custom-Attributes": f"model={backend.model_id}",
                "X-Amzn-Invoked-Production-Variant": "AllTraffic",
            },
            f" inputs={len(texts)}",
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: Backend, endpoint_name: str | None,
                 outage: Outage) -> None:
        super().__init__(address, _Handler)
        self.backend = backend
        self.endpoint_name = endpoint_name
        self.outage = outage


class ModelServer:
    """The local model server, runnable in a background thread (tests) or in the foreground (CLI)."""

    def __init__(
        self,
        port: int = 0,
        endpoint_name: str | None = None,
        backend: Backend | None = None,
        host: str = "127.0.0.1",
        outage: Outage | None = None,
    ) -> None:
        self.backend: Backend = backend if backend is not None else EmbeddedBackend()
        self.outage = outage or Outage(0)
        self._httpd = _Server((host, port), self.backend, endpoint_name, self.outage)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ModelServer:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="model-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- modelled endpoint compute (make bench's AWS-latency simulation) ----------------------------


class SimulatedCompute:
    """Wraps a backend so each request takes what the real endpoint's compute would take.

    Sleeps ``ms_per_request + len(texts) * ms_per_text`` per request (bench/cost.py models the
    same figures), with at most ``concurrency`` requests computing at once (a serverless
    endpoint's MaxConcurrency; 0 = unlimited). Sleeping threads leave the CPU to the caller.
    """

    def __init__(self, backend: Backend, ms_per_request: float, ms_per_text: float, concurrency: int = 0) -> None:
        self.backend = backend
        self.model_id = backend.model_id
        self.ms_per_request = ms_per_request
        self.ms_per_text = ms_per_text
        self._slots = threading.BoundedSemaphore(concurrency) if concurrency > 0 else None

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        delay = (self.ms_per_request + len(texts) * self.ms_per_text) / 1000
        if self._slots is None:
            time.sleep(delay)
            return self.backend.scores(texts)
        with self._slots:
            time.sleep(delay)
            return self.backend.scores(texts)


def add_simulation_flags(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--simulate-ms-per-request", type=float, default=0.0,
                    help="add this much modelled compute to every request (ms)")
    ap.add_argument("--simulate-ms-per-text", type=float, default=0.0,
                    help="and this much per text in the request (ms)")
    ap.add_argument("--simulate-concurrency", type=int, default=0,
                    help="at most this many requests compute at once (0 = unlimited)")


def simulated(backend: Backend, args: argparse.Namespace) -> Backend:
    if args.simulate_ms_per_request <= 0 and args.simulate_ms_per_text <= 0:
        return backend
    return SimulatedCompute(backend, args.simulate_ms_per_request, args.simulate_ms_per_text,
                            args.simulate_concurrency)


def make_backend(name: str, model: str | None) -> Backend:
    if name == "embedded":
        return EmbeddedBackend(model)
    if name == "transformers":
        return TransformersBackend(model or PRODUCTION_MODEL)
    raise ValueError(f"unknown backend {name!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Local SageMaker-runtime-compatible hate-speech model server.")
    ap.add_argument("--port", type=int, default=8081, help="port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--endpoint-name", default=None, help="only answer this endpoint name (others: ValidationError)")
    ap.add_argument("--backend", choices=("embedded", "transformers"), default="embedded")
    ap.add_argument("--model", default=None, help="embedded: .npz path; transformers: local model folder or hub id")
    ap.add_argument("--outage-seconds", type=float, default=0.0,
                    help="fail like an endpoint outage for this long from the first invocation")
    add_simulation_flags(ap)
    args = ap.parse_args(argv)
    try:
        backend = make_backend(args.backend, args.model)
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"model_server: {exc}", file=sys.stderr)
        return 2
    backend = simulated(backend, args)
    server = ModelServer(port=args.port, endpoint_name=args.endpoint_name, backend=backend,
                         outage=Outage(args.outage_seconds))
    print(
        f"model_server: {backend.model_id} on {server.url} "
        f"(export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={server.url})",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
