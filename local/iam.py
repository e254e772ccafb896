"""IAM for the local system: each function may make only the calls its role's policy allows.

moto accepts any credentials, so without this a statement missing from a role policy showed up
only on a real `pulumi up` or the first real send. Here every AWS call a handler makes, and every
call Lambda makes with the function's execution role (log delivery, tracing, queue polling, the
checks Lambda runs when a mapping or a failure destination is created), is authorized against the
inline policies the program declares for the function's role: `local.iam_requests` says what a
call needs, `local.iam_policy` whether the role's policy allows it, as AWS evaluates an
identity-based policy (IAM User Guide, "Policy evaluation logic").

This module decides and answers: an `Authorizer` checks one function's calls, records each denial,
and fails a denied call as AWS fails it (`Authorizer.install` answers it in a botocore
`before-call` hook, as botocore's Stubber does, so the handlers' own code paths run unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from local.iam_policy import Decision, Policy
from local.iam_requests import REQUESTS, Access, Scope

#: Where `install` keeps a call's parameters between botocore's two events.
_PARAMS_KEY = "local_iam_params"


#: How each service answers a call IAM denied: (error code, HTTP status).
ACCESS_DENIED: Mapping[str, tuple[str, int]] = {
    "sqs": ("AccessDenied", 403),
    "dynamodb": ("AccessDeniedException", 400),
    "sesv2": ("AccessDeniedException", 403),
    "cloudwatch": ("AccessDenied", 403),
}


@dataclass(frozen=True)
class Denial:
    """A call a function's role policy does not allow."""

    function: str
    call: str
    action: str
    resource: str
    principal: str
    explicit: bool = False

    @property
    def message(self) -> str:
        """AWS's words for it."""
        reason = ("with an explicit deny in an identity-based policy" if self.explicit
                  else f"because no identity-based policy allows the {self.action} action")
        return (f"User: {self.principal} is not authorized to perform: {self.action} on resource: "
                f"{self.resource} {reason}")


@dataclass(frozen=True)
class Caller:
    """A function acting with its execution role: the role's session is named after the function."""

    function: str
    role_arn: str
    policy: Policy

    @property
    def principal(self) -> str:
        account = self.role_arn.split(":")[4]
        partition = self.role_arn.split(":")[1]
        return f"arn:{partition}:sts::{account}:assumed-role/{self.role_arn.rsplit('/', 1)[-1]}/{self.function}"


class UnmodeledCall(Exception):
    """A function called an operation `local.iam_requests.REQUESTS` does not know: its permissions cannot be checked."""


class ProvisioningRefused(Exception):
    """Lambda refused to create something because the function's role lacks a permission.

    Args:
        message: one line: what was refused, Lambda's words, and what to add where.
        denial: the permission the role lacks.
    """

    def __init__(self, message: str, denial: Denial) -> None:
        super().__init__(message)
        self.denial = denial


class Authorizer:
    """Checks one function's calls against its role's policy and records what was denied.

    Args:
        caller: the function and its role's policy.
        scope: how to name the resources the calls touch.
        record: called with every denial (the local system keeps them for its summary).
    """

    def __init__(self, caller: Caller, scope: Scope, record: Callable[[Denial], None]) -> None:
        self.caller = caller
        self.scope = scope
        self._record = record

    def check(self, call: str, accesses: Sequence[Access]) -> Denial | None:
        """The first access the policy refuses (recorded), or None when all are allowed."""
        for access in accesses:
            decisions = [self.caller.policy.decide(access.action, r, dict(access.context))
                         for r in (access.resource, *access.alternatives)]
            if Decision.ALLOWED in decisions:
                continue
            denial = Denial(self.caller.function, call, access.action, access.resource, self.caller.principal,
                            explicit=Decision.EXPLICIT_DENY in decisions)
            self._record(denial)
            return denial
        return None

    def check_call(self, service: str, operation: str, params: Mapping[str, Any]) -> Denial | None:
        """Check an API call by its botocore service name, operation and parameters.

        Raises:
            UnmodeledCall: `REQUESTS` has no entry for the operation.
        """
        rule = REQUESTS.get((service, operation))
        if rule is None:
            raise UnmodeledCall(f"{self.caller.function} called {service} {operation}, which "
                                "local.iam_requests.REQUESTS does not know: add the actions and resources it "
                                "needs (AWS Service Authorization Reference) so its permissions are checked")
        return self.check(operation, rule(params, self.scope))

    def authorize(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        """Raise the ClientError the service answers when the call is denied."""
        denial = self.check_call(service, operation, params)
        if denial is not None:
            raise ClientError(_denied_response(service, denial), operation)

    def install(self, client: Any) -> Any:
        """Make a botocore client answer denied calls as AWS does, before any request is sent."""
        events = client.meta.events
        events.register("before-parameter-build", _keep_params)
        events.register("before-call", self._answer_denied)
        return client

    def _answer_denied(self, model: Any, context: dict[str, Any],
                       **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        """`before-call` hook: a non-None answer stands for the service's response (as botocore's Stubber's)."""
        service = model.service_model.service_name
        denial = self.check_call(service, model.name, context.get(_PARAMS_KEY, {}))
        if denial is None:
            return None
        parsed = _denied_response(service, denial)
        return AWSResponse(None, parsed["ResponseMetadata"]["HTTPStatusCode"], {}, None), parsed


def _keep_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    """`before-parameter-build` hook: `before-call` sees only the serialized request, so keep the parameters."""
    context[_PARAMS_KEY] = dict(params)


def _denied_response(service: str, denial: Denial) -> dict[str, Any]:
    code, status = ACCESS_DENIED.get(service, ("AccessDeniedException", 403))
    return {"Error": {"Code": code, "Message": denial.message, "Type": "Sender"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RequestId": "local-iam"}}
