"""Each function's execution role in the emulator: its policy, checking its code's calls and Lambda's.

On AWS a function's code calls with its execution role's credentials, and Lambda uses the same
role for what it does on the function's behalf (AWS Lambda Developer Guide, "Defining Lambda
function permissions with an execution role"). Here each function gets an `Authorizer` over the
inline policies the program declares for its role (`local.iam`), its own AWS clients with that
authorizer installed (and DynamoDB's expression limit, `local.dynamodb_limits`), and an SES view
that authorizes each call first. Every denial is kept, once, in order.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import boto3

from local import dynamodb_limits
from local.blueprint import Blueprint, FunctionSpec
from local.emulated_ses import EmulatedSes
from local.iam import Authorizer, Caller, Denial
from local.iam_policy import Policy
from local.iam_requests import Scope
from local.mocks import ACCOUNT

#: Edits the policy a function's role declares before it is enforced: (function name, the role's
#: inline statements as one policy document, a copy) -> the document to enforce.
PolicyEdits = Callable[[str, dict[str, Any]], Mapping[str, Any]]

#: The botocore clients a function's code gets from the emulator (SES is `EmulatedSes.for_caller`).
_BOTOCORE_CLIENTS = ("sqs", "dynamodb", "cloudwatch", "events")


class FunctionRoles:
    """The functions' roles in one emulated account, and the clients each function calls with.

    Args:
        blueprint: what the program declared: the functions, their roles' policies, the ARNs.
        ses: the emulated SES every function's SES client goes to.
        endpoint: the emulator's URL.
        region: the emulated region.
        sandbox: the SES account is in the sandbox (sends are authorized per recipient too).
        policy_edits: change a function's role policy before it is enforced.
    """

    def __init__(self, blueprint: Blueprint, ses: EmulatedSes, endpoint: str, region: str, *, sandbox: bool,
                 policy_edits: PolicyEdits | None = None) -> None:
        self._blueprint = blueprint
        self._ses = ses
        self._endpoint = endpoint
        self._region = region
        self._policy_edits = policy_edits
        self.scope = Scope(region=region, account=ACCOUNT, partition=_partition(blueprint), declared=blueprint.arns,
                           identities=tuple(blueprint.identities), sandbox=sandbox)
        #: Every call a function's role policy did not allow, once each, in order.
        self.denials: list[Denial] = []
        self._authorizers: dict[str, Authorizer] = {}
        self._clients: dict[str, dict[str, Any]] = {}

    def authorizer(self, function: FunctionSpec) -> Authorizer:
        """The function's role policy (after `policy_edits`), checking its calls."""
        if function.name not in self._authorizers:
            document = self._blueprint.policy_document(function)
            if self._policy_edits is not None:
                document = dict(self._policy_edits(function.name, copy.deepcopy(document)))
            caller = Caller(function.name, function.role, Policy.from_documents([document]))
            self._authorizers[function.name] = Authorizer(caller, self.scope, self._record)
        return self._authorizers[function.name]

    def clients(self, function: FunctionSpec) -> dict[str, Any]:
        """The clients a function's code gets: each call authorized against its role first."""
        if function.name not in self._clients:
            authorizer = self.authorizer(function)
            clients = {name: authorizer.install(boto3.client(name, region_name=self._region,
                                                             endpoint_url=self._endpoint))
                       for name in _BOTOCORE_CLIENTS}
            dynamodb_limits.install(clients["dynamodb"])
            clients["ses"] = self._ses.for_caller(
                lambda operation, params: authorizer.authorize("sesv2", operation, params))
            self._clients[function.name] = clients
        return self._clients[function.name]

    def _record(self, denial: Denial) -> None:
        if denial not in self.denials:
            self.denials.append(denial)


def _partition(blueprint: Blueprint) -> str:
    """The partition the program's ARNs are in (`aws`, `aws-cn`, ...)."""
    return next((arn.split(":")[1] for arn in blueprint.functions), "aws")
