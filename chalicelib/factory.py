"""Composition root: builds every collaborator from Settings, lazily, once per container."""

from __future__ import annotations

import functools

from chalicelib import config
from chalicelib.classifier import EndpointClassifier
from chalicelib.clients import AwsClients
from chalicelib.deletions import DeletionStore
from chalicelib.firehose_sink import FirehoseSink
from chalicelib.hate_rate import HateRateMonitor
from chalicelib.object_store import ObjectStore
from chalicelib.pipeline import Ingestor, ObjectProcessor, classify_reserve_ms
from chalicelib.queries import CursorCodec
from chalicelib.reconciler import Reconciler
from chalicelib.repository import CommentRepository
from chalicelib.retry import Backoff
from chalicelib.reviews import ReviewStore
from chalicelib.secrets import SecretReader
from chalicelib.sweep import Sweeper, requests_per_run


class Services:
    """Everything the handlers need. Tests build one with their own clients or backoff."""

    def __init__(
        self,
        settings: config.Settings | None = None,
        clients: AwsClients | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._settings = settings
        self.clients = clients or AwsClients()
        self.backoff = backoff or Backoff()

    @functools.cached_property
    def settings(self) -> config.Settings:
        return self._settings or config.load()

    @functools.cached_property
    def repository(self) -> CommentRepository:
        self.settings.require("table")
        return CommentRepository(self.clients.dynamodb, self.settings.table, self.backoff,
                                 tracked_subreddits=self.settings.subreddits)

    @functools.cached_property
    def reviews(self) -> ReviewStore:
        self.settings.require("table")
        return ReviewStore(self.clients.dynamodb, self.settings.table, Backoff(attempts=4, sleep=self.backoff.sleep))

    @functools.cached_property
    def secrets(self) -> SecretReader:
        return SecretReader(self.clients.secretsmanager)

    @functools.cached_property
    def ingestor(self) -> Ingestor:
        # PRAW takes ~175 ms to import: only the ingestion function pays for it.
        from chalicelib.reddit_source import RedditSource, build_reddit  # noqa: PLC0415

        s = self.settings
        s.require("stream", "reddit_secret_id", "table")
        # Credentials are read once per container: the secret costs a call and
        # PRAW keeps its OAuth token between invocations.
        reddit = build_reddit(self.secrets.reddit_credentials(s.reddit_secret_id), s.reddit_urls)
        return Ingestor(
            source=RedditSource(reddit, Backoff(attempts=3, base=1.0, sleep=self.backoff.sleep)),
            sink=FirehoseSink(self.clients.firehose, s.stream, self.backoff),
            repository=self.repository,
            subreddits=s.subreddits,
            max_per_run=s.max_comments_per_run,
        )

    @functools.cached_property
    def deletions(self) -> DeletionStore:
        self.settings.require("table")
        return DeletionStore(self.clients.dynamodb, self.settings.table, self.settings.retention_days,
                             Backoff(attempts=5, sleep=self.backoff.sleep))

    @functools.cached_property
    def sweeper(self) -> Sweeper:
        from chalicelib.reddit_source import RedditSource, build_reddit  # noqa: PLC0415 - PRAW only here

        s = self.settings
        s.require("reddit_secret_id", "table")
        reddit = build_reddit(self.secrets.reddit_credentials(s.reddit_secret_id), s.reddit_urls)
        return Sweeper(RedditSource(reddit, Backoff(attempts=1, sleep=self.backoff.sleep)), self.deletions,
                       self.repository, requests_per_run(s.sweep_share_percent, s.sweep_minutes))

    @functools.cached_property
    def processor(self) -> ObjectProcessor:
        s = self.settings
        s.require("endpoint_name", "table")
        classifier = EndpointClassifier(self.clients.sagemaker_runtime, s.endpoint_name, s.model_id, self.backoff)
        return ObjectProcessor(
            store=self.store,
            repository=self.repository,
            classifier=classifier,
            batch_size=s.batch_size,
            concurrency=s.concurrency,
            retention_days=s.retention_days,
            reserve_ms=classify_reserve_ms(classifier.budget_s),
        )

    @functools.cached_property
    def store(self) -> ObjectStore:
        return ObjectStore(self.clients.s3, self.settings.quarantine_prefix)

    @functools.cached_property
    def reconciler(self) -> Reconciler:
        s = self.settings
        s.require("bucket")
        return Reconciler(
            store=self.store, repository=self.repository, processor=self.processor, bucket=s.bucket,
            prefix=s.raw_prefix, lookback_seconds=s.reconcile_lookback_seconds,
            min_age_seconds=s.reconcile_min_age_seconds, attention_after=s.reconcile_attention_after,
            slow_retry_seconds=s.reconcile_slow_retry_seconds, retention_days=s.retention_days,
        )

    @functools.cached_property
    def hate_rates(self) -> HateRateMonitor:
        return HateRateMonitor(self.repository, self.settings.subreddits, self.settings.hate_baseline_hours)

    @functools.cached_property
    def cursor_codec(self) -> CursorCodec:
        self.settings.require("cursor_secret_id")
        return CursorCodec(self.secrets.cursor_key(self.settings.cursor_secret_id))
