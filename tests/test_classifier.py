"""The endpoint client: request sizing, answer formats, retries and isolating bad inputs."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from chalicelib.classifier import (
    ATTEMPT_S,
    MAX_MODEL_CHARS,
    REQUEST_BUDGET_S,
    EndpointClassifier,
    chunk,
    parse_response,
)
from chalicelib.clients import AwsClients
from chalicelib.errors import ClassifierError
from chalicelib.pipeline import CLASSIFY_RESERVE_MS, WRITE_RESERVE_MS, classify_reserve_ms
from chalicelib.retry import NO_WAIT, Backoff
from tests.conftest import FakeEndpoint, client_error, model_error


def make(endpoint: FakeEndpoint, model: str = "m") -> EndpointClassifier:
    client: Any = endpoint  # the fake has the one method the classifier calls
    return EndpointClassifier(client, "e", model, NO_WAIT)


def test_chunk_bounds_count_bytes_and_characters() -> None:
    texts = ["a" * 10] * 10
    assert [len(b) for b in chunk(list(range(10)), texts, 4)] == [4, 4, 2]
    assert [len(b) for b in chunk(list(range(10)), texts, 100, max_bytes=50)] == [3, 3, 3, 1]
    assert [len(b) for b in chunk(list(range(10)), texts, 100, max_chars=25)] == [2, 2, 2, 2, 2]
    # An over-long text counts only with what the model is sent, and always fits alone.
    assert [len(b) for b in chunk([0, 1], ["x" * 10**6, "y"], 100, max_chars=MAX_MODEL_CHARS)] == [1, 1]


def test_parse_flat_nested_and_single_answers() -> None:
    flat = parse_response([{"label": "hate", "score": 0.7}, {"label": "nothate", "score": 0.9}], 2, "m")
    assert [(p.label, p.score, p.model) for p in flat] == [("hate", 0.7, "m"), ("nothate", 0.9, "m")]
    nested = parse_response([[{"label": "nothate", "score": 0.2}, {"label": "hate", "score": 0.8}]], 1, "m")
    assert nested[0].label == "hate" and nested[0].score == 0.8
    assert parse_response({"label": "NOTHATE", "score": 0.6}, 1, "m")[0].label == "nothate"


@pytest.mark.parametrize("payload", [[], [{"label": "hate"}], [{"label": "LABEL_1", "score": 0.9}], "x"])
def test_unexpected_answers_raise(payload: object) -> None:
    with pytest.raises(ClassifierError):
        parse_response(payload, 1, "m")


def test_model_named_by_the_server_wins_over_the_configured_one() -> None:
    endpoint = FakeEndpoint(model="devtools/local", nested=True)
    result = make(endpoint, "configured/model").classify(["a hateful text", "fine"])
    assert [(p.label, p.model) for p in result.predictions] == [("hate", "devtools/local"),  # type: ignore[union-attr]
                                                                ("nothate", "devtools/local")]


def test_several_bad_inputs_are_isolated_and_the_rest_classified() -> None:
    endpoint = FakeEndpoint()
    endpoint.reject = "poison"
    texts = ["ok 0", "poison 1", "ok 2", "ok 3", "poison 4", "ok 5"]
    result = make(endpoint).classify(texts)
    kinds = ["rejected" if isinstance(p, str) else p.label for p in result.predictions]
    assert kinds == ["nothate", "rejected", "nothate", "nothate", "rejected", "nothate"]
    assert result.calls == len(endpoint.calls)


def test_a_validation_error_is_not_retried() -> None:
    endpoint = FakeEndpoint()
    endpoint.failures = [client_error("ValidationError", "Endpoint e of account 1 not found.")]
    with pytest.raises(ClassifierError, match="ValidationError"):
        make(endpoint).classify(["x"])
    assert len(endpoint.calls) == 1


def test_long_texts_are_cut_for_the_model() -> None:
    endpoint = FakeEndpoint()
    make(endpoint).classify(["z" * 50_000])
    assert len(endpoint.calls[0][0]) == MAX_MODEL_CHARS


def test_every_input_rejected_is_an_endpoint_fault_not_bad_input() -> None:
    endpoint = FakeEndpoint()
    endpoint.reject = ""  # every request fails with ModelError 400, as a container that failed to load
    with pytest.raises(ClassifierError, match=r"rejected all 2 inputs of a split \(an endpoint fault"):
        make(endpoint).classify(["a", "b", "c", "d"])


def test_model_error_429_from_the_container_is_retried() -> None:
    endpoint = FakeEndpoint()
    endpoint.failures = [model_error("too many requests", 429)]
    result = make(endpoint).classify(["fine"])
    assert result.calls == 2 and not isinstance(result.predictions[0], str)


class SlowFailures:
    """An endpoint whose every attempt fails after ``seconds`` on a fake clock."""

    def __init__(self, seconds: float, error: Exception) -> None:
        self.now = 0.0
        self.seconds = seconds
        self.error = error
        self.starts: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def invoke_endpoint(self, **_kwargs: Any) -> dict[str, Any]:
        self.starts.append(self.now)
        self.now += self.seconds
        raise self.error


@pytest.mark.parametrize("seconds", [0.5, 20.0, 50.0, ATTEMPT_S])
def test_no_attempt_starts_that_could_end_after_the_budget(seconds: float) -> None:
    # Before: the budget was checked only before each attempt, so one started at
    # 119 s could run to 119 + 75 s, past the handler's reserve.
    client = SlowFailures(seconds, client_error("ThrottlingException"))
    classifier = EndpointClassifier(cast(Any, client), "e", "m", Backoff(attempts=50, sleep=client.sleep),
                                    clock=client.clock)
    with pytest.raises(ClassifierError, match="no answer within 120 s"):
        classifier.classify(["x"])
    assert client.starts and all(start + ATTEMPT_S <= REQUEST_BUDGET_S for start in client.starts)
    assert client.now <= REQUEST_BUDGET_S


def test_the_reserve_holds_one_window_at_the_clients_timeouts(services: Any) -> None:
    processor = services.processor
    classifier = processor.classifier
    runtime: Any = AwsClients().sagemaker_runtime.meta.config  # botocore's stubs omit the timeouts
    # One attempt lasts at most connect + read timeout of the client actually used ...
    assert runtime.connect_timeout + runtime.read_timeout == classifier.attempt_s == ATTEMPT_S
    # ... a request at most its budget, and the reserve keeps that plus the writes.
    assert processor.reserve_ms == classify_reserve_ms(classifier.budget_s) == CLASSIFY_RESERVE_MS
    assert classifier.budget_s * 1000 + WRITE_RESERVE_MS <= CLASSIFY_RESERVE_MS
    with pytest.raises(ValueError, match="cannot hold"):
        EndpointClassifier(cast(Any, FakeEndpoint()), "e", "m", budget_s=60.0)


def test_the_request_caps_tokens_beside_truncation() -> None:
    # The toolkit passes "parameters" to the tokenizer: truncation alone cuts
    # nothing when the tokenizer config has no model_max_length.
    sent: list[dict[str, Any]] = []
    endpoint = FakeEndpoint()
    original = endpoint.invoke_endpoint

    def capture(**kwargs: Any) -> dict[str, Any]:
        sent.append(kwargs)
        return original(**kwargs)

    endpoint.invoke_endpoint = capture  # type: ignore[method-assign]
    make(endpoint).classify(["some text", "z" * 10_000])
    body = json.loads(sent[0]["Body"])
    assert body["parameters"] == {"truncation": True, "max_length": 512, "batch_size": 8}
    assert sent[0]["ContentType"] == "application/json"


def test_a_container_refusing_everything_costs_a_few_calls_not_a_full_bisection() -> None:
    endpoint = FakeEndpoint()
    endpoint.reject = ""  # every request fails with the container's 400
    with pytest.raises(ClassifierError, match="endpoint fault"):
        make(endpoint).classify([f"text {i}" for i in range(256)])
    # 256 -> 128 -> ... -> 2 -> 1, 1: the first pair refused entirely ends it (was 511 calls).
    assert len(endpoint.calls) == 10
