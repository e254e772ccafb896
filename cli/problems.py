"""What the operator sees when something is wrong: one line, what is wrong and what to do.

Exit status 2 is a usage or environment problem (a missing file, a bad flag, AWS refusing the
call); 1 is an answer the operator did not hope for (nothing found, something unhealthy).
"""

from __future__ import annotations

import http
from typing import Any

PROG = "email-pipeline"
USAGE = 2
NOT_FOUND = 1

#: Error codes whose meaning is "these credentials cannot be used", whatever the service.
_CREDENTIAL_CODES = frozenset({
    "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidSignatureException", "RequestExpired",
})
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError"})
_MISSING_CODES = frozenset({
    "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "ResourceNotFoundException",
    "ResourceNotFound",
})


class CliError(Exception):
    """A problem the operator can fix, printed as `email-pipeline: <problem>; <remedy>`.

    Args:
        problem: what is wrong, without personal data.
        remedy: what to do about it.
        exit_code: the process's exit status (2 by default: usage or environment).
    """

    def __init__(self, problem: str, remedy: str, *, exit_code: int = USAGE) -> None:
        super().__init__(problem)
        self.problem = problem
        self.remedy = remedy
        self.exit_code = exit_code

    def line(self) -> str:
        """The one line printed to stderr."""
        text = f"{PROG}: {self.problem}; {self.remedy}"
        return " ".join(text.split())  # an AWS message may carry newlines: never more than one line


def not_found(problem: str, remedy: str) -> CliError:
    """A lookup that found nothing (exit status 1)."""
    return CliError(problem, remedy, exit_code=NOT_FOUND)


def describe_client_error(exc: Any) -> str:
    """`Code: message` of an AWS error, readable even when an endpoint answered with an HTML page."""
    error = exc.response.get("Error", {})
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    code = str(error.get("Code", "") or "")
    message = str(error.get("Message", "") or "").strip()
    if code == str(status) or not code:
        return f"HTTP {status} {_phrase(status)}".strip()
    if not message or message.startswith("<"):
        return code
    return f"{code}: {message}"


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def from_aws(exc: Exception, endpoint: str | None = None) -> CliError:
    """The operator's view of a botocore `ClientError` or `BotoCoreError`: what failed, where to look."""
    # Imported here: this module is loaded before anything knows whether botocore is installed.
    from botocore.exceptions import (
        BotoCoreError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return CliError("no usable AWS credentials",
                        "configure a profile (AWS_PROFILE, aws configure sso) or, for the emulator, "
                        "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to any value")
    if isinstance(exc, NoRegionError):
        return CliError("no AWS region", "pass --region, set AWS_REGION, or give --stack-outputs (its ARNs name it)")
    if isinstance(exc, EndpointConnectionError):
        return CliError(f"cannot reach {exc.kwargs.get('endpoint_url') or endpoint or 'AWS'}",
                        "check --endpoint-url (is the emulator running?), --region and the network")
    if isinstance(exc, BotoCoreError):
        return CliError(f"AWS call failed ({type(exc).__name__}: {exc})", "check the network, --region and --endpoint-url")
    return _from_client_error(exc)


def _from_client_error(exc: Any) -> CliError:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    what = f"{exc.operation_name} failed: {describe_client_error(exc)}"
    if code in _CREDENTIAL_CODES:
        return CliError(what, "refresh your AWS credentials (aws sso login, or new keys) and retry")
    if code in _DENIED_CODES:
        return CliError(what, f"use a role allowed to call {exc.operation_name} on this stack's resources")
    if code in _MISSING_CODES:
        return CliError(what, "check that --stack-outputs (or the name flags) and --region are this stack's, "
                              "and that the stack is deployed")
    return CliError(what, "check the stack outputs, --region and --endpoint-url, then retry")
