"""The local model server, driven by boto3's real sagemaker-runtime client."""

from __future__ import annotations

import builtins
import http.client
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from devtools.hatemodel import load
from devtools.model_server import MAX_TEXT_CHARS, ModelServer, Outage, TransformersBackend, main

ENDPOINT = "hate-endpoint"
MODEL_ID = load().model_id  # the shipped model names itself


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    srv = ModelServer(port=0, endpoint_name=ENDPOINT).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def open_server() -> Iterator[ModelServer]:
    """No --endpoint-name: any name is served."""
    srv = ModelServer(port=0).start()
    yield srv
    srv.stop()


def runtime(srv: ModelServer) -> Any:
    return boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=srv.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


def invoke(srv: ModelServer, payload: Any, endpoint: str = ENDPOINT) -> tuple[Any, dict[str, Any]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    resp = runtime(srv).invoke_endpoint(
        EndpointName=endpoint, ContentType="application/json", Accept="application/json", Body=body
    )
    return json.loads(resp["Body"].read()), resp


TEXTS = [
    "What a lovely day for a picnic in the park.",
    "Does anyone know when the next episode comes out?",
    "",
    "🙂 café naïve",
    "thanks for sharing!",
]


def test_single_text_gives_one_element_list(server: ModelServer) -> None:
    out, resp = invoke(server, {"inputs": TEXTS[0]})
    assert isinstance(out, list) and len(out) == 1
    assert out[0]["label"] in ("hate", "nothate")
    assert 0.5 <= out[0]["score"] <= 1.0
    assert resp["ContentType"] == "application/json"
    assert resp["CustomAttributes"] == f"model={MODEL_ID}"


def test_batch_matches_embedded_model_in_order(server: ModelServer) -> None:
    out, _ = invoke(server, {"inputs": TEXTS, "parameters": {"truncation": True}})
    assert out == load().classify(TEXTS)
    # Reversing the input reverses the output.
    rev, _ = invoke(server, {"inputs": TEXTS[::-1]})
    assert rev == out[::-1]


def test_empty_batch(server: ModelServer) -> None:
    out, resp = invoke(server, {"inputs": []})
    assert out == []
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_top_k_none_returns_both_labels_sorted(server: ModelServer) -> None:
    out, _ = invoke(server, {"inputs": TEXTS[:2], "parameters": {"top_k": None}})
    assert len(out) == 2
    for pair, best in zip(out, load().classify(TEXTS[:2]), strict=True):
        assert [d["label"] for d in pair] in (["hate", "nothate"], ["nothate", "hate"])
        assert pair[0]["score"] >= pair[1]["score"]
        assert pair[0] == best
    top1, _ = invoke(server, {"inputs": TEXTS[:2], "parameters": {"top_k": 1}})
    assert top1 == [[p[0]] for p in out]
    # Like the HF pipeline, a single string with top_k gives one flat list.
    single, _ = invoke(server, {"inputs": TEXTS[0], "parameters": {"top_k": 2}})
    assert single == out[0]


def test_long_text_is_truncated_not_rejected(server: ModelServer) -> None:
    long_text = "word " * (MAX_TEXT_CHARS // 2)
    out, _ = invoke(server, {"inputs": [long_text, "short"]})
    assert len(out) == 2
    assert out[0] == load().classify([long_text[:MAX_TEXT_CHARS]])[0]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"this is not json", "not valid JSON"),
        ({"text": "no inputs key"}, '"inputs" key'),
        ({"inputs": [1, 2]}, "list of strings"),
        ({"inputs": {"a": "b"}}, "list of strings"),
        ({"inputs": "x", "parameters": {"top_k": "two"}}, "top_k"),
    ],
)
def test_bad_payload_raises_model_error(server: ModelServer, payload: Any, message: str) -> None:
    client = runtime(server)
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(client.exceptions.ModelError) as info:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json", Body=body)
    err = info.value.response
    assert err["Error"]["Code"] == "ModelError"
    assert "Received client error (400) from primary" in err["Error"]["Message"]
    assert err["OriginalStatusCode"] == 400
    assert message in json.loads(err["OriginalMessage"])["message"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424


def test_unknown_endpoint_raises_validation_error(server: ModelServer) -> None:
    client = runtime(server)
    with pytest.raises(client.exceptions.ClientError) as info:
        client.invoke_endpoint(EndpointName="other-endpoint", ContentType="application/json", Body=b'{"inputs": "x"}')
    err = info.value.response["Error"]
    assert err["Code"] == "ValidationError"
    assert err["Message"] == "Endpoint other-endpoint of account 123456789012 not found."
    assert not isinstance(info.value, client.exceptions.ModelError)


def test_any_endpoint_name_without_endpoint_filter(open_server: ModelServer) -> None:
    out, resp = invoke(open_server, {"inputs": ["hello"]}, endpoint="whatever-name")
    assert len(out) == 1 and resp["CustomAttributes"] == f"model={MODEL_ID}"


def _raw(srv: ModelServer, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_container_contract_ping_and_invocations(server: ModelServer) -> None:
    status, _, body = _raw(server, "GET", "/ping")
    assert status == 200 and json.loads(body)["model"] == MODEL_ID
    status, headers, body = _raw(server, "POST", "/invocations", json.dumps({"inputs": TEXTS}).encode())
    assert status == 200
    assert json.loads(body) == load().classify(TEXTS)
    assert headers["x-amzn-sagemaker-custom-attributes"] == f"model={MODEL_ID}"
    status, _, _ = _raw(server, "GET", "/nope")
    assert status == 404


def test_request_log_has_no_bodies(server: ModelServer, capfd: pytest.CaptureFixture[str]) -> None:
    secret_text = "very-distinctive-comment-body-42"
    invoke(server, {"inputs": [secret_text]})
    err = capfd.readouterr().err
    assert f"/endpoints/{ENDPOINT}/invocations 200" in err
    assert secret_text not in err


def test_transformers_backend_fails_clearly_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_transformers(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "transformers" or name.startswith("transformers."):
            raise ImportError("No module named 'transformers'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_transformers)
    with pytest.raises(RuntimeError, match="pip install transformers torch"):
        TransformersBackend()
    assert main(["--backend", "transformers", "--port", "0"]) == 2


# -- failing like the real Hugging Face container and the serverless front -------------------------


class BrokenBackend:
    model_id = "broken"

    def scores(self, texts: Any) -> list[dict[str, float]]:
        raise MemoryError("CUDA out of memory")


def container_body(err: dict[str, Any]) -> dict[str, Any]:
    assert err["Error"]["Code"] == "ModelError" and err["OriginalStatusCode"] == 400
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    return dict(json.loads(err["OriginalMessage"]))


def test_a_backend_exception_is_the_containers_400_not_a_500() -> None:
    # Before: 500, which the classifier retried; the real toolkit answers 400 for every exception.
    with ModelServer(port=0, backend=BrokenBackend()) as srv:
        client = runtime(srv)
        with pytest.raises(client.exceptions.ModelError) as info:
            client.invoke_endpoint(EndpointName="e", ContentType="application/json", Body=b'{"inputs": ["x"]}')
    assert container_body(info.value.response) == {"code": 400, "type": "InternalServerException",
                                                   "message": "CUDA out of memory"}


def test_a_bad_payload_has_the_containers_error_body(server: ModelServer) -> None:
    client = runtime(server)
    with pytest.raises(client.exceptions.ModelError) as info:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json", Body=b"not json")
    body = container_body(info.value.response)
    assert body["type"] == "InternalServerException" and "not valid JSON" in body["message"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "text/plain", "Application/JSON"])
def test_only_exactly_application_json_is_accepted(server: ModelServer, content_type: str) -> None:
    # Before: any type was read as JSON. The toolkit's decoder looks the type up as is.
    client = runtime(server)
    with pytest.raises(client.exceptions.ModelError) as info:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType=content_type, Body=b'{"inputs": ["x"]}')
    assert container_body(info.value.response)["message"] == (
        f"Content type {content_type} is not supported by this framework.")


def test_an_outage_answers_model_not_ready_then_the_containers_400_then_recovers() -> None:
    now = [0.0]
    outage = Outage(9.0, clock=lambda: now[0])
    with ModelServer(port=0, outage=outage) as srv:
        client = runtime(srv)

        def call() -> Any:
            return client.invoke_endpoint(EndpointName="e", ContentType="application/json",
                                          Body=b'{"inputs": ["hello"]}')
        with pytest.raises(client.exceptions.ModelNotReadyException) as cold:
            call()  # the first invocation starts the outage
        assert cold.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        now[0] = 4.0
        with pytest.raises(client.exceptions.ModelError) as failing:
            call()
        assert container_body(failing.value.response)["type"] == "InternalServerException"
        now[0] = 9.0
        assert len(json.loads(call()["Body"].read())) == 1
        assert outage.status()["refused"] == {"not_ready": 1, "failing": 1}
