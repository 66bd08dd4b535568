"""Chalice wiring only: each handler calls one use case; errors become HTTP answers here."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, ParamSpec, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from chalice import (
    BadRequestError,
    Chalice,
    ChaliceViewError,
    ConvertToMiddleware,
    CORSConfig,
    IAMAuthorizer,
    NotFoundError,
    Rate,
    Response,
)
from chalice.app import CloudWatchEvent, S3Event

from chalicelib import config, console, factory, observability, queries, reviews
from chalicelib.errors import BodyTooLarge, ConfigError, MissingConfiguration, ValidationError
from chalicelib.pipeline import total
from chalicelib.retry import deadline_of

# Powertools owns logging (JSON with the Lambda context); Chalice would add a plain handler too.
app = Chalice(app_name="reddit-hate-watch", configure_logs=False)
logger = Logger(service="reddit-hate-watch")
# Structured JSON logs with the Lambda context for the handlers and for every
# chalicelib module (their loggers are children of "chalicelib").
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context))
logging.getLogger("chalicelib")
copy_config_to_registered_loggers(source_logger=logger, include={"chalicelib"})
logging.getLogger("chalicelib").propagate = False  # Lambda's root handler would log each line twice
# Decorator arguments are evaluated at import: they must not need AWS or a
# deployed stack, so missing names fall back to placeholders here.
_boot = config.decorator_settings()
_services: factory.Services | None = None


def services() -> factory.Services:
    global _services  # noqa: PLW0603 - one composition root per Lambda container
    if _services is None:
        _services = factory.Services()
    return _services


def set_services(replacement: factory.Services | None) -> None:
    """Tests and the offline runner swap the composition root."""
    global _services  # noqa: PLW0603
    _services = replacement


class ServiceUnavailableError(ChaliceViewError):
    STATUS_CODE = 503


_P = ParamSpec("_P")
_R = TypeVar("_R")
#: What a caller of an unconfigured API is told; setting names only, never values or resource names.
UNCONFIGURED = ("this API is not configured (missing: {missing}). Offline: start `make run`, then `make api` "
                "serves chalice local against it. AWS: run `python deploy_model.py --stage STAGE`, then "
                "`chalice deploy --stage STAGE`.")
MISCONFIGURED = "this API's configuration is invalid or unreadable; the server log names the setting"


def configured(view: Callable[_P, _R]) -> Callable[_P, _R]:
    """A ConfigError becomes a 503 that says what to run, instead of Chalice's generic 500."""

    @functools.wraps(view)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return view(*args, **kwargs)
        except MissingConfiguration as exc:
            logger.error("configuration missing", extra={"missing": list(exc.missing)})
            raise ServiceUnavailableError(UNCONFIGURED.format(missing=", ".join(exc.missing))) from None
        except ConfigError as exc:
            logger.error("configuration invalid", extra={"error": str(exc)})
            raise ServiceUnavailableError(MISCONFIGURED) from None

    return wrapper


class RequestTooLargeError(ChaliceViewError):
    STATUS_CODE = 413


_route_options: dict[str, Any] = {
    "api_key_required": _boot.api_auth == "api_key",
    "authorizer": IAMAuthorizer() if _boot.api_auth == "iam" else None,
    "cors": CORSConfig(allow_origin=_boot.cors_origin) if _boot.cors_origin else False,
}


@app.schedule(Rate(_boot.schedule_minutes, unit=Rate.MINUTES), name="ingest")
def ingest(event: CloudWatchEvent) -> dict[str, Any]:
    reports = services().ingestor.run(deadline_of(event.context))
    observability.record_ingest(reports)
    return {"delivered": sum(r.delivered for r in reports), "subreddits": len(reports)}


@app.schedule(Rate(_boot.sweep_minutes, unit=Rate.MINUTES), name="sweep")
def sweep(event: CloudWatchEvent) -> dict[str, Any]:
    # Reddit's terms: content deleted on Reddit is deleted here too (chalicelib/sweep.py).
    report = services().sweeper.run(deadline_of(event.context))
    observability.record_sweep(report)
    return asdict(report)


@app.on_s3_event(bucket=_boot.bucket, events=["s3:ObjectCreated:*"], prefix=_boot.raw_prefix, name="classify")
def classify(event: S3Event) -> dict[str, int]:
    # Chalice's S3Event exposes only the first record; the raw event has them all.
    reports = services().processor.process_event(event.to_dict(), deadline_of(event.context))
    observability.record_objects(reports)
    observability.record_hate_rates(services().hate_rates.current())  # inputs of the hate-rate alarms
    return total(reports)


@app.schedule(Rate(_boot.reconcile_minutes, unit=Rate.MINUTES), name="reconcile")
def reconcile(event: CloudWatchEvent) -> dict[str, int]:
    # Raw objects whose S3 event was dropped or whose run crashed (chalicelib/reconciler.py).
    report = services().reconciler.run(deadline_of(event.context))
    observability.record_reconcile(report)
    return report.as_dict()


@app.route("/comments", methods=["GET"], **_route_options)
@configured
def list_comments() -> dict[str, Any]:
    s = services()
    # A MultiDict: queries refuses a parameter given twice instead of keeping the last value.
    params = app.current_request.query_params if app.current_request else None
    try:
        query = queries.parse_comment_query(params, s.cursor_codec if params and "cursor" in params else None)
    except ValidationError as exc:
        raise BadRequestError(str(exc)) from None
    page = s.repository.query(query)
    cursor = queries.encode_cursor(s.cursor_codec, query, params, page.last_key) if page.last_key else None
    return {"items": page.items, "next_cursor": cursor}


@app.route("/comments/{comment_id}", methods=["GET"], **_route_options)
@configured
def get_comment(comment_id: str) -> dict[str, Any]:
    try:
        item = services().repository.get_comment(queries.comment_id_param(comment_id))
    except ValidationError as exc:
        raise BadRequestError(str(exc)) from None
    if item is None:
        raise NotFoundError(f"comment {comment_id} not found")
    return item


@app.route("/stats", methods=["GET"], **_route_options)
@configured
def stats() -> dict[str, Any]:
    try:
        subreddit = queries.parse_stats_query(app.current_request.query_params if app.current_request else None)
    except ValidationError as exc:
        raise BadRequestError(str(exc)) from None
    repo = services().repository
    labels = repo.stats()
    answer: dict[str, Any] = {"labels": labels, "total": sum(labels.values()), "reviews": services().reviews.figures()}
    if subreddit is not None:
        sub = repo.stats(subreddit)
        answer["subreddit"] = {"name": subreddit, "labels": sub, "total": sum(sub.values())}
    return answer


@app.route("/comments/{comment_id}/review", methods=["POST"], **_route_options)
@configured
def review_comment(comment_id: str) -> dict[str, Any]:
    request = app.current_request
    try:
        verdict = reviews.parse_review(request.raw_body if request else None)
        cid = queries.comment_id_param(comment_id)
    except BodyTooLarge as exc:
        raise RequestTooLargeError(str(exc)) from None
    except ValidationError as exc:
        raise BadRequestError(str(exc)) from None
    reviewer = reviews.reviewer_of(_boot.api_auth, request.context if request else None)
    item = services().reviews.review(cid, verdict, reviewer)
    if item is None:
        raise NotFoundError(f"comment {comment_id} not found")
    return item


# The console's page and files carry no data, so they need no key: a browser cannot send
# x-api-key when it opens a URL. Every API call the page makes carries the stage's auth.
@app.route("/console", methods=["GET"])
def console_page() -> Response:
    page = console.page(_boot.api_auth, queries.COMMENT_PARAMS, _boot.model_id)
    return Response(body=page.body, status_code=200, headers=page.headers())


@app.route("/console/{name}", methods=["GET"])
def console_asset(name: str) -> Response:
    asset = console.asset(name)
    if asset is None:
        raise NotFoundError(f"no console file {name}")
    return Response(body=asset.body, status_code=200, headers=asset.headers())
