"""What to tell someone whose AWS credentials are missing, partial, expired or refused.

botocore's own messages ("Unable to locate credentials", "The security token included in
the request is invalid") say what went wrong, not what to configure. This adds the
configuration steps; it never prints a credential value.
"""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

#: How to give deploy_model.py (and Chalice) credentials, in the order people usually try.
CONFIGURE = (
    "deploy_model.py needs credentials for the AWS account to deploy to. Set one of:\n"
    "  - a profile: export AWS_PROFILE=<name> (created with `aws configure`, or `aws configure sso` "
    "then `aws sso login --profile <name>`);\n"
    "  - keys: export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... "
    "(and AWS_SESSION_TOKEN=... for temporary credentials).\n"
    "Check them with `aws sts get-caller-identity`."
)
REFRESH = (
    "The credentials that were found were refused. Temporary ones expire: refresh them "
    "(`aws sso login --profile <name>`, or new AWS_SESSION_TOKEN / keys), check AWS_PROFILE and that no "
    "stale AWS_ACCESS_KEY_ID is exported, then try `aws sts get-caller-identity`."
)
#: Error codes AWS answers for a signature or token it does not accept (any service, incl. STS).
REFUSED_CODES = frozenset({
    "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "UnrecognizedClientException", "RequestExpired", "InvalidToken",
})


def credentials_hint(exc: BaseException) -> str | None:
    """The steps to fix ``exc`` when it is a credentials problem, else None."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        return CONFIGURE
    if isinstance(exc, SSOError | TokenRetrievalError | CredentialRetrievalError):
        return REFRESH
    if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in REFUSED_CODES:
        return REFRESH
    return None
