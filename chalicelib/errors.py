"""Every error the business logic raises.

    PipelineError
    ├── ConfigError            settings missing or malformed
    │   └── MissingConfiguration   resource names unset (deploy_model.py has not run)
    ├── ValidationError        a REST parameter is bad (carries the parameter name)
    ├── BodyTooLarge           a request body over its limit (HTTP 413)
    ├── DeliveryError          Firehose still refused records after retries
    ├── ClassifierError        the endpoint kept failing after retries
    │   └── InputRejected      the model rejected one specific input (ModelError 4xx)
    ├── StorageError           DynamoDB / S3 still failing after retries
    │   └── PartialWriteError  a batch write stopped part-way (carries the ids that were written)
    ├── ObjectBusy             another invocation holds the lease on this S3 object
    └── TimeBudgetExhausted    stopped early to leave time; Lambda will retry the rest

app.py translates ValidationError to HTTP 400, BodyTooLarge to 413 and ConfigError to 503
(saying what to run); everything else that escapes a
handler makes Lambda retry the event (which is safe: processing is idempotent).
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class."""


class ConfigError(PipelineError):
    pass


class MissingConfiguration(ConfigError):
    def __init__(self, missing: tuple[str, ...]) -> None:
        super().__init__("missing configuration: " + ", ".join(missing)
                         + " (run deploy_model.py for this stage, or set the environment variables)")
        self.missing = missing  # setting names (never values)


class ValidationError(PipelineError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


class BodyTooLarge(PipelineError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"request body is {size} bytes; at most {limit} are accepted")
        self.size = size
        self.limit = limit


class DeliveryError(PipelineError):
    def __init__(self, message: str, undelivered: frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        self.undelivered = undelivered  # ids of the comments Firehose never accepted


class ClassifierError(PipelineError):
    pass


class InputRejected(ClassifierError):
    def __init__(self, message: str, calls: int = 1) -> None:
        super().__init__(message)
        self.calls = calls  # endpoint calls spent before the rejection


class StorageError(PipelineError):
    pass


class PartialWriteError(StorageError):
    def __init__(self, message: str, written: list[str]) -> None:
        super().__init__(message)
        self.written = written  # ids of the items that are stored despite the failure


class ObjectBusy(PipelineError):
    pass


class TimeBudgetExhausted(PipelineError):
    pass
