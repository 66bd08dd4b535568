"""The endpoint client: request sizing, answer formats, retries and isolating bad inputs."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.classifier import MAX_MODEL_CHARS, EndpointClassifier, chunk, parse_response
from chalicelib.errors import ClassifierError
from chalicelib.retry import NO_WAIT
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
    with pytest.raises(ClassifierError, match="rejected all 4 inputs"):
        make(endpoint).classify(["a", "b", "c", "d"])


def test_model_error_429_from_the_container_is_retried() -> None:
    endpoint = FakeEndpoint()
    endpoint.failures = [model_error("too many requests", 429)]
    result = make(endpoint).classify(["fine"])
    assert result.calls == 2 and not isinstance(result.predictions[0], str)


def test_retries_stop_when_the_time_budget_is_spent() -> None:
    endpoint = FakeEndpoint()
    endpoint.failures = [client_error("ThrottlingException")] * 5
    ticks = iter([0.0, 0.0, 50.0, 130.0, 200.0])
    classifier = make(endpoint)
    classifier.budget_s = 120.0
    classifier.clock = lambda: next(ticks)
    with pytest.raises(ClassifierError, match="no answer within 120 s"):
        classifier.classify(["x"])
    assert len(endpoint.calls) == 2
