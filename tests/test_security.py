"""REST API authentication per stage, 500 hygiene, CORS, secrets in error paths."""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from chalice import IAMAuthorizer
from chalice.config import Config
from chalice.deploy.swagger import SwaggerGenerator
from chalice.test import Client

import app as app_module
from chalicelib import config
from chalicelib.errors import ConfigError
from chalicelib.factory import Services
from tests.conftest import REDDIT_SECRET_VALUE

REPO = Path(__file__).resolve().parents[1]
ROUTES = [("/comments", "GET"), ("/comments/{comment_id}", "GET"), ("/stats", "GET"),
          ("/comments/{comment_id}/review", "POST")]
#: The console's page and files hold no data; a browser opening a URL cannot send a key.
OPEN_ROUTES = [("/console", "GET"), ("/console/{name}", "GET")]


@pytest.fixture
def load_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """Import a fresh copy of app.py under the given environment (decorators read it at import)."""
    chalicelib_logger = logging.getLogger("chalicelib")
    handlers, propagate = list(chalicelib_logger.handlers), chalicelib_logger.propagate
    counter = iter(range(1000))

    def load(**env: str) -> ModuleType:
        for name in (config.ENV_API_AUTH, config.ENV_CORS_ORIGIN):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        spec = importlib.util.spec_from_file_location(f"app_under_test_{next(counter)}", REPO / "app.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield load
    # app.py wires logging at import: undo what the copies added.
    chalicelib_logger.handlers[:] = handlers
    chalicelib_logger.propagate = propagate


def swagger(module: ModuleType) -> dict[str, Any]:
    api: dict[str, Any] = SwaggerGenerator("us-east-1", {"api_handler_arn": "arn:aws:lambda:us-east-1:1:function:f"}
                                           ).generate_swagger(module.app)
    return api


def test_api_key_mode_requires_the_key_on_every_route(load_app: Callable[..., ModuleType]) -> None:
    module = load_app(API_AUTH="api_key")
    for path, method in ROUTES:
        assert module.app.routes[path][method].api_key_required is True
    api = swagger(module)
    for path, method in ROUTES:
        assert api["paths"][path][method.lower()]["security"] == [{"api_key": []}]
    for path, method in OPEN_ROUTES:
        assert not module.app.routes[path][method].api_key_required
        assert "security" not in api["paths"][path][method.lower()]
    assert api["securityDefinitions"]["api_key"]["in"] == "header"


def test_iam_mode_puts_an_iam_authorizer_on_every_route(load_app: Callable[..., ModuleType]) -> None:
    module = load_app(API_AUTH="iam")
    for path, method in ROUTES:
        assert isinstance(module.app.routes[path][method].authorizer, IAMAuthorizer)
    api = swagger(module)
    for path, method in ROUTES:
        assert api["paths"][path][method.lower()]["security"] == [{"sigv4": []}]
    for path, method in OPEN_ROUTES:
        assert module.app.routes[path][method].authorizer is None
    assert api["securityDefinitions"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_none_mode_is_open(load_app: Callable[..., ModuleType]) -> None:
    module = load_app(API_AUTH="none")
    for path, method in ROUTES:
        route = module.app.routes[path][method]
        assert route.api_key_required is False and route.authorizer is None
    assert "securityDefinitions" not in swagger(module)


def test_unknown_auth_mode_fails_at_import(load_app: Callable[..., ModuleType]) -> None:
    with pytest.raises(ConfigError, match="API_AUTH"):
        load_app(API_AUTH="sometimes")


def test_every_aws_stage_requires_authentication_and_only_local_stays_open(
        load_app: Callable[..., ModuleType]) -> None:
    """What `chalice package/deploy --stage X` imports app.py with: the stage's environment variables.

    Issue 12 item 7: `dev` used to be open on real API Gateway."""
    disk = json.loads((REPO / ".chalice" / "config.json").read_text())
    assert {"dev", "prod", "local"} <= set(disk["stages"])
    for stage in disk["stages"]:
        env = Config(chalice_stage=stage, config_from_disk=disk).environment_variables
        mode = env.get(config.ENV_API_AUTH, "none")
        if stage == "local":
            assert mode == "none", f"the offline stage stays open (API_AUTH={mode})"
            continue
        assert mode in ("api_key", "iam"), f"stage {stage} is open (API_AUTH={mode})"
        module = load_app(**{config.ENV_API_AUTH: mode})
        security = swagger(module)["paths"]["/comments"]["get"]["security"]
        assert security in ([{"api_key": []}], [{"sigv4": []}])


# -- 500 hygiene --------------------------------------------------------------------------------


def assert_generic_500(response: Any, *secrets: str) -> None:
    assert response.status_code == 500
    body = response.body.decode()
    assert json.loads(body) == {"Code": "InternalServerError", "Message": "An internal server error occurred."}
    for text in ("Traceback", "test-table", "test-bucket", "ResourceNotFound", "arn:aws", *secrets):
        assert text not in body


def test_debug_is_off() -> None:
    assert app_module.app.debug is False


@pytest.mark.parametrize("url", ["/comments", "/comments/abc123", "/stats?subreddit=news"])
def test_internal_error_answers_a_generic_500(client: Client, url: str, caplog: pytest.LogCaptureFixture) -> None:
    boto3.client("dynamodb").delete_table(TableName="test-table")
    with caplog.at_level(logging.ERROR):
        response = client.http.get(url)
    assert_generic_500(response)
    assert "test-table" in caplog.text or "ResourceNotFound" in caplog.text  # operators still see the cause


def test_missing_cursor_secret_answers_a_503_that_names_nothing_internal(client: Client, services: Services) -> None:
    boto3.client("dynamodb").put_item(TableName="test-table", Item={"comment_id": {"S": "x"}})
    boto3.client("secretsmanager").delete_secret(SecretId="test/cursor", ForceDeleteWithoutRecovery=True)
    response = client.http.get("/comments?cursor=abc.def")
    assert response.status_code == 503
    body = response.body.decode()
    assert json.loads(body) == {"Code": "ServiceUnavailableError", "Message": app_module.MISCONFIGURED}
    for text in ("Traceback", "test-table", "test-bucket", "ResourceNotFound", "arn:aws", "test/cursor"):
        assert text not in body


def test_400_messages_name_the_parameter_not_internals(client: Client) -> None:
    response = client.http.get("/comments?limit=1e9")
    assert response.status_code == 400
    body = response.body.decode()
    assert "limit" in body and "test-table" not in body and "Traceback" not in body


# -- CORS ---------------------------------------------------------------------------------------


def test_cors_is_off_by_default(client: Client) -> None:
    response = client.http.get("/stats")
    assert response.status_code == 200
    assert not any(h.lower().startswith("access-control-") for h in response.headers)
    for path, method in ROUTES:
        assert not app_module.app.routes[path][method].cors


def test_cors_origin_when_configured(load_app: Callable[..., ModuleType], services: Services) -> None:
    module = load_app(CORS_ORIGIN="https://dashboard.example.org")
    module.set_services(services)
    with Client(module.app) as c:
        response = c.http.get("/stats")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://dashboard.example.org"
    options = swagger(module)["paths"]["/stats"]["options"]
    headers = options["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
    assert headers["method.response.header.Access-Control-Allow-Origin"] == "'https://dashboard.example.org'"


# -- secrets in configuration errors ----------------------------------------------------------------


def test_malformed_reddit_secret_names_the_secret_never_its_values(
        services: Services, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    partial = {k: v for k, v in REDDIT_SECRET_VALUE.items() if k != "user_agent"}
    boto3.client("secretsmanager").put_secret_value(SecretId="test/reddit", SecretString=json.dumps(partial))
    app_module.set_services(services)
    try:
        # Our loggers at DEBUG, the rest at INFO. (botocore's own DEBUG output prints
        # response bodies, GetSecretValue included: never enable it in production.)
        with caplog.at_level(logging.INFO), caplog.at_level(logging.DEBUG, logger="chalicelib"), \
                Client(app_module.app) as c, pytest.raises(ConfigError) as failure:
            c.lambda_.invoke("ingest", c.events.generate_cw_event(
                source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    finally:
        app_module.set_services(None)
    assert "test/reddit" in str(failure.value) and "user_agent" in str(failure.value)
    out = capsys.readouterr()
    text = str(failure.value) + repr(failure.value) + caplog.text + out.out + out.err
    for value in (REDDIT_SECRET_VALUE["client_id"], REDDIT_SECRET_VALUE["client_secret"]):
        assert value not in text


def test_non_json_secret_error_does_not_echo_the_value(services: Services) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId="test/reddit", SecretString="hunter2-NOT-JSON")
    with pytest.raises(ConfigError) as failure:
        services.secrets.reddit_credentials("test/reddit")
    chain = f"{failure.value!r} {failure.value.__cause__!r} {failure.value.__context__!r}"
    assert "hunter2" not in chain and failure.value.__suppress_context__


def test_a_review_on_an_api_key_stage_records_the_key_id_never_the_key(
        load_app: Callable[..., ModuleType], services: Services) -> None:
    """The event API Gateway sends for a key-protected route carries the key itself: it must stay out."""
    from devtools.backends import LambdaContext  # noqa: PLC0415
    from tests.conftest import comment_doc, ndjson, s3_event  # noqa: PLC0415

    module = load_app(API_AUTH="api_key")
    module.set_services(services)
    boto3.client("s3").put_object(Bucket="test-bucket", Key="raw/k.json", Body=ndjson([comment_doc(1, body="hateful")]))
    services.processor.process_event(s3_event("test-bucket", "raw/k.json"), app_module.deadline_of(None))
    event = {
        "resource": "/comments/{comment_id}/review", "path": "/comments/c00001/review", "httpMethod": "POST",
        "headers": {"content-type": "application/json", "x-api-key": "KEY-VALUE-SECRET-123"},
        "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"comment_id": "c00001"}, "stageVariables": None, "isBase64Encoded": False,
        "body": json.dumps({"verdict": "hate"}),
        "requestContext": {"resourcePath": "/comments/{comment_id}/review", "httpMethod": "POST", "stage": "api",
                           "path": "/api/comments/c00001/review",
                           "identity": {"apiKey": "KEY-VALUE-SECRET-123", "apiKeyId": "abc123keyid",
                                        "sourceIp": "203.0.113.9"}},
    }
    response = module.app(event, LambdaContext("api_handler"))
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert body["reviewer"] == "abc123keyid"
    stored = boto3.client("dynamodb").get_item(TableName="test-table", Key={"comment_id": {"S": "c00001"}})["Item"]
    assert stored["reviewer"] == {"S": "abc123keyid"}
    assert "KEY-VALUE-SECRET-123" not in json.dumps(stored) + response["body"]
    module.set_services(None)
