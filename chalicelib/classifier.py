"""Client of the Hugging Face text-classification model on a SageMaker endpoint."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

from chalicelib.errors import ClassifierError, InputRejected
from chalicelib.models import Prediction
from chalicelib.retry import Backoff

if TYPE_CHECKING:
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

log = logging.getLogger(__name__)

#: Serverless endpoints accept at most 4 MB per request; keep a margin for JSON framing.
MAX_PAYLOAD_BYTES = 3_500_000
#: The model truncates to 512 tokens anyway; cutting the text bounds the payload
#: without ever making the model reject a long comment.
MAX_MODEL_CHARS = 4_000
#: Text per request (~15k tokens): the container runs the inputs one after the
#: other on CPU, and a serverless invocation must answer within 60 s.
MAX_REQUEST_CHARS = 60_000
#: The model's position limit. Sent as ``max_length`` beside ``truncation``: the
#: toolkit hands ``parameters`` to the pipeline's tokenizer, and ``truncation``
#: alone truncates nothing when the tokenizer config has no ``model_max_length``
#: (a 4,000-character text then fails with a tensor size mismatch, HTTP 400).
MAX_TOKENS = 512
#: The longest one InvokeEndpoint attempt can take: chalicelib.clients builds
#: the sagemaker-runtime client with exactly these timeouts.
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 70
ATTEMPT_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S
#: Wall-clock bound on one classify() call, retries, pauses and bisection
#: included. No attempt starts unless it can end (ATTEMPT_S) within it, so the
#: bound holds even for an attempt that hangs until its read timeout.
REQUEST_BUDGET_S = 120.0
LABELS = {"hate": "hate", "nothate": "nothate", "not hate": "nothate", "not_hate": "nothate"}
# Errors worth another attempt: throttling (MaxConcurrency reached), the
# serverless cold start, and transient service faults.
_RETRYABLE_CODES = frozenset({
    "ThrottlingException", "ModelNotReadyException", "ServiceUnavailable", "InternalFailure",
    "InternalDependencyException", "ServiceUnavailableException",
})

#: How a refused input's reason starts (quarantine files carry it).
REFUSED = "rejected by the model: "

T = TypeVar("T")


class Classifier(Protocol):
    def classify(self, texts: Sequence[str]) -> ClassifyResult: ...


@dataclass(frozen=True)
class ClassifyResult:
    """One entry per input: a Prediction, or the reason the model rejected that input."""

    predictions: list[Prediction | str]
    calls: int = 0


def model_text(text: str) -> str:
    return text[:MAX_MODEL_CHARS]


def chunk(items: Sequence[T], texts: Sequence[str], max_items: int,
          max_bytes: int = MAX_PAYLOAD_BYTES, max_chars: int = MAX_REQUEST_CHARS) -> Iterator[list[T]]:
    """Split into endpoint requests bounded by count, JSON payload size and text length."""
    batch: list[T] = []
    size = chars = 0
    for item, text in zip(items, texts, strict=True):
        cut = model_text(text)
        cost = len(json.dumps(cut)) + 2
        if batch and (len(batch) >= max_items or size + cost > max_bytes or chars + len(cut) > max_chars):
            yield batch
            batch, size, chars = [], 0, 0
        batch.append(item)
        size += cost
        chars += len(cut)
    if batch:
        yield batch


#: The Hugging Face pipeline runs a list one text at a time unless batch_size is set; 8 texts per
#: forward pass took 33 % less CPU than one at a time for roberta-base over the recorded comments,
#: and 32 no less than one (padding to the longest text wastes the gain): bench/README.md.
PIPELINE_BATCH_SIZE = 8


def request_body(texts: Sequence[str]) -> str:
    """The InvokeEndpoint body: the toolkit passes ``parameters`` to the pipeline call."""
    parameters = {"truncation": True, "max_length": MAX_TOKENS, "batch_size": PIPELINE_BATCH_SIZE}
    return json.dumps({"inputs": list(texts), "parameters": parameters}, ensure_ascii=False)


def parse_response(payload: Any, expected: int, model: str) -> list[Prediction]:
    """Accept ``[{label, score}]`` and ``[[{label, score}, ...]]`` (top_k) answers."""
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or len(payload) != expected:
        raise ClassifierError(f"endpoint answered {type(payload).__name__} of unexpected length for {expected} inputs")
    predictions = []
    for entry in payload:
        candidates = entry if isinstance(entry, list) else [entry]
        try:
            best = max(candidates, key=lambda c: float(c["score"]))
            label = LABELS[str(best["label"]).strip().lower()]
            score = float(best["score"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ClassifierError(f"unexpected prediction {str(entry)[:200]}") from exc
        predictions.append(Prediction(label=label, score=score, model=model))
    return predictions


def _model_from(custom_attributes: str | None, default: str) -> str:
    """The local model server names itself in CustomAttributes ("model=<id>")."""
    for part in (custom_attributes or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "model" and value:
            return value
    return default


@dataclass
class EndpointClassifier:
    client: SageMakerRuntimeClient
    endpoint_name: str
    model_id: str
    backoff: Backoff = field(default_factory=Backoff)
    #: Wall-clock bound on one classify() call (see REQUEST_BUDGET_S), so a
    #: window of requests always fits in the Lambda's reserve.
    budget_s: float = REQUEST_BUDGET_S
    #: The longest one attempt can take (the client's connect + read timeouts).
    attempt_s: float = ATTEMPT_S
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.attempt_s > self.budget_s:
            raise ValueError(f"a request budget of {self.budget_s} s cannot hold one {self.attempt_s} s attempt")

    def classify(self, texts: Sequence[str]) -> ClassifyResult:
        """Classify one request's worth of texts, isolating inputs the model rejects.

        Of two or more texts at least one gets a Prediction: a split whose every text is
        refused raises ClassifierError in ``_classify`` (an endpoint fault, not bad input).
        """
        return self._classify(texts, self.clock())

    def _classify(self, texts: Sequence[str], started: float) -> ClassifyResult:
        if not texts:
            return ClassifyResult([], 0)
        try:
            predictions, calls = self._invoke([model_text(t) for t in texts], started)
            return ClassifyResult(list(predictions), calls)
        except InputRejected as exc:
            if len(texts) == 1:
                return ClassifyResult([f"{REFUSED}{exc}"], exc.calls)
            # One bad input fails the whole request: bisect to find it and keep the rest.
            middle = len(texts) // 2
            left = self._classify(texts[:middle], started)
            right = self._classify(texts[middle:], started)
            both = left.predictions + right.predictions
            if all(isinstance(p, str) for p in both):
                # Both halves refused, down to single texts: a container failing on
                # everything, not bad input (the Hugging Face container answers 400 for
                # its own faults too, e.g. a model that failed to load). Stop here rather
                # than bisect every other branch of the request (a 256-text request would
                # cost ~500 calls).
                first = str(both[0]).removeprefix(REFUSED)
                raise ClassifierError(f"endpoint {self.endpoint_name} rejected all {len(texts)} inputs of a "
                                      f"split (an endpoint fault, not bad input): {first}") from exc
            return ClassifyResult(both, exc.calls + left.calls + right.calls)

    def _invoke(self, texts: list[str], started: float) -> tuple[list[Prediction], int]:
        body = request_body(texts)
        calls = 0
        last = ""
        for attempt in range(self.backoff.attempts):
            # Start an attempt only if it can end, pause and read timeout
            # included, within the budget: checking only "is there time left?"
            # would let an attempt started at 119 s run until 119 + 75 s.
            if self.clock() - started + self.backoff.longest(attempt) + self.attempt_s > self.budget_s:
                raise ClassifierError(f"endpoint {self.endpoint_name}: no answer within {self.budget_s:.0f} s "
                                      f"({calls} attempts): {last or 'no attempt fits'}")
            if attempt:
                self.backoff.sleep(self.backoff.delay(attempt))
            calls += 1
            try:
                response = self.client.invoke_endpoint(
                    EndpointName=self.endpoint_name, ContentType="application/json",
                    Accept="application/json", Body=body.encode(),
                )
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = str(error.get("Code", ""))
                # ModelError carries the container's own status: 4xx means this input
                # is bad (split to isolate it), 5xx or 0 is a cold start or crash (retry).
                original = exc.response.get("OriginalStatusCode")
                if (code == "ModelError" and isinstance(original, int) and 400 <= original < 500
                        and original not in (408, 429)):
                    raise InputRejected(str(error.get("Message", ""))[:300], calls) from exc
                if code not in _RETRYABLE_CODES and code != "ModelError":
                    raise ClassifierError(f"endpoint {self.endpoint_name}: {code}: {error.get('Message')}") from exc
                last = f"{code}: {error.get('Message')}"
            except (ReadTimeoutError, ConnectionError) as exc:
                last = type(exc).__name__
            except BotoCoreError as exc:
                raise ClassifierError(f"endpoint {self.endpoint_name}: {exc}") from exc
            else:
                try:
                    payload = json.loads(response["Body"].read())
                except ValueError as exc:
                    raise ClassifierError("endpoint answered with invalid JSON") from exc
                model = _model_from(response.get("CustomAttributes"), self.model_id)
                return parse_response(payload, len(texts), model), calls
            # Routine (throttling, cold starts): INFO; a request that keeps failing raises.
            log.info("endpoint call failed, retrying", extra={"error": last, "attempt": calls})
        raise ClassifierError(f"endpoint {self.endpoint_name} still failing after {calls} attempts: {last}")
