"""EventBridge API destinations in the emulator: the status webhooks, called over HTTPS as EventBridge calls them.

moto routes an event to an API destination target only when `MOTO_EVENTS_INVOKE_HTTP` is set, and
then sends an empty request without authorization, retries or dead-letter queue. So the emulator
gives each webhook rule a second target of its own, a queue (`<rule>-invocations`): moto's pattern
matching still decides which events a webhook hears, and `ApiDestinations.deliver` plays what
EventBridge does with each (EventBridge User Guide, "API destinations" and "Event retry policy and
using dead-letter queues"):

- authorization from the connection: the API key header, basic auth, or OAuth client credentials
  (a token from the authorization endpoint, sent as `Authorization: Bearer`, fetched again after a
  401);
- the request: `POST` of the event as JSON (`Content-Type: application/json; charset=utf-8`,
  `User-Agent: Amazon/EventBridge/ApiDestinations`), a 5 second timeout;
- 2xx delivers; 401, 407, 409, 429, 5xx and a timeout are retried ("Retries events associated with
  error codes 401, 407, 409, 429, and 5xx"), up to the retry policy's attempts and event age (the
  backoff is counted, not slept: `fast_forward`), `Retry-After` honoured; any other answer is
  dead-lettered at once;
- a dead letter is the event with EventBridge's attributes: `ERROR_CODE`, `ERROR_MESSAGE`,
  `RULE_ARN`, `TARGET_ARN`, `RETRY_ATTEMPTS` and, when retries ran out, `EXHAUSTED_RETRY_CONDITION`;
- the target's role must allow `events:InvokeApiDestination` on the destination (`local.iam`):
  otherwise nothing is called and the event is dead-lettered with `NO_PERMISSIONS`;
- CloudWatch gets `AWS/Events` `InvocationAttempts`, `SuccessfulInvocationAttempts`,
  `RetryInvocationAttempts`, `FailedInvocations` and `InvocationsSentToDlq` per rule.
"""

from __future__ import annotations

import base64
import json
import random
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from local.iam_policy import Decision, Policy

#: EventBridge's answer timeout for an API destination ("must respond within 5 seconds").
TIMEOUT_SECONDS = 5.0
RETRIED_STATUSES = frozenset({401, 407, 409, 429})
USER_AGENT = "Amazon/EventBridge/ApiDestinations"
#: EventBridge's backoff is exponential with jitter from about a second, capped (not documented
#: further); only the event age it adds up to matters here.
_FIRST_BACKOFF_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 600.0


@dataclass(frozen=True)
class Connection:
    """What a connection adds to each call: `API_KEY`, `BASIC` or `OAUTH_CLIENT_CREDENTIALS`, with its secret."""

    authorization_type: str
    api_key: tuple[str, str] = ("", "")
    basic: tuple[str, str] = ("", "")
    token_url: str = ""
    client: tuple[str, str] = ("", "")
    token_parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Webhook:
    """One rule whose target is an API destination, as the program declared them."""

    rule_name: str
    rule_arn: str
    bus: str
    pattern: str
    destination_arn: str
    endpoint: str
    rate_limit_per_second: int
    connection: Connection
    role_policy: Mapping[str, Any]
    max_retry_attempts: int
    max_event_age_seconds: int
    dead_letter_queue: str

    @property
    def tap_queue(self) -> str:
        return f"{self.rule_name}-invocations"[:80]


@dataclass
class Delivery:
    """What became of one event for one webhook."""

    rule_name: str
    event_id: str
    delivered: bool
    attempts: int
    last_status: int | None
    error_code: str = ""


def webhooks_from_mocks(resources: Sequence[Any]) -> list[Webhook]:
    """Every rule the program gave an API destination target, with its connection, role and DLQ."""
    def of(typ: str) -> list[Any]:
        return [r for r in resources if r.typ == typ]

    destinations = {r.outputs["arn"]: r for r in of("aws:cloudwatch/eventApiDestination:EventApiDestination")}
    connections = {r.outputs["arn"]: r for r in of("aws:cloudwatch/eventConnection:EventConnection")}
    rules = {r.outputs["name"]: r for r in of("aws:cloudwatch/eventRule:EventRule")}
    roles = {r.outputs["arn"]: r for r in of("aws:iam/role:Role")}
    policies = {r.inputs["role"]: json.loads(r.inputs["policy"]) for r in of("aws:iam/rolePolicy:RolePolicy")}
    queues = {r.outputs["arn"]: r.outputs["name"] for r in of("aws:sqs/queue:Queue")}
    found = []
    for target in of("aws:cloudwatch/eventTarget:EventTarget"):
        destination = destinations.get(target.inputs.get("arn"))
        if destination is None:
            continue
        rule = rules[target.inputs["rule"]]
        role = roles.get(target.inputs.get("roleArn", ""))
        retry = target.inputs.get("retryPolicy") or {}
        found.append(Webhook(
            rule_name=rule.outputs["name"], rule_arn=rule.outputs["arn"], bus=rule.inputs.get("eventBusName", "default"),
            pattern=rule.inputs["eventPattern"], destination_arn=destination.outputs["arn"],
            endpoint=destination.inputs["invocationEndpoint"],
            rate_limit_per_second=int(destination.inputs.get("invocationRateLimitPerSecond", 300)),
            connection=_connection(connections[destination.inputs["connectionArn"]]),
            role_policy=policies.get(f"{role.name}-id", {}) if role is not None else {},
            max_retry_attempts=int(retry.get("maximumRetryAttempts", 185)),
            max_event_age_seconds=int(retry.get("maximumEventAgeInSeconds", 86_400)),
            dead_letter_queue=queues.get((target.inputs.get("deadLetterConfig") or {}).get("arn", ""), ""),
        ))
    return found


def _connection(resource: Any) -> Connection:
    auth = resource.inputs.get("authParameters", {})
    kind = resource.inputs["authorizationType"]
    if kind == "API_KEY":
        return Connection(kind, api_key=(auth["apiKey"]["key"], auth["apiKey"]["value"]))
    if kind == "BASIC":
        return Connection(kind, basic=(auth["basic"]["username"], auth["basic"]["password"]))
    oauth = auth["oauth"]
    bodies = (oauth.get("oauthHttpParameters") or {}).get("bodies") or []
    return Connection(kind, token_url=oauth["authorizationEndpoint"],
                      client=(oauth["clientParameters"]["clientId"], oauth["clientParameters"]["clientSecret"]),
                      token_parameters={b["key"]: b["value"] for b in bodies})


class ApiDestinations:
    """The webhooks of one local system: provisioned beside moto's rules, delivered by `deliver`.

    Args:
        webhooks: from the program (`webhooks_from_mocks`).
        clients: the emulator's `sqs`, `events` and `cloudwatch` clients (AWS's own side: no IAM).
        ssl_context: whose certificates to trust (tests serve HTTPS with their own).
        rng: the jitter of the counted backoff.
    """

    def __init__(self, webhooks: Sequence[Webhook], clients: Mapping[str, Any], *,
                 ssl_context: ssl.SSLContext | None = None, rng: random.Random | None = None) -> None:
        self.webhooks = list(webhooks)
        self._sqs, self._events, self._cloudwatch = clients["sqs"], clients["events"], clients["cloudwatch"]
        self._ssl = ssl_context
        self._rng = rng or random.Random(0)
        self._tokens: dict[str, str] = {}
        self.deliveries: list[Delivery] = []

    def provision(self) -> None:
        """A queue per webhook rule as its second target: what the rule matched waits there for `deliver`."""
        for hook in self.webhooks:
            url = self._sqs.create_queue(QueueName=hook.tap_queue)["QueueUrl"]
            arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self._events.put_targets(Rule=hook.rule_name, EventBusName=hook.bus,
                                     Targets=[{"Id": "local-api-destination", "Arn": arn}])

    def deliver(self) -> list[Delivery]:
        """Call every webhook with every event its rule matched since the last call; return what became of each."""
        done = []
        for hook in self.webhooks:
            url = self._sqs.get_queue_url(QueueName=hook.tap_queue)["QueueUrl"]
            while messages := self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                for message in messages:
                    done.append(self._deliver_one(hook, message["Body"]))
                    self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        self.deliveries += done
        return done

    def _deliver_one(self, hook: Webhook, body: str) -> Delivery:
        event_id = str(json.loads(body).get("id", ""))
        decision = Policy.from_documents([hook.role_policy]).decide("events:InvokeApiDestination", hook.destination_arn)
        if decision is not Decision.ALLOWED:
            self._metric(hook, "FailedInvocations")
            return self._dead_letter(hook, body, event_id, 0, None, "NO_PERMISSIONS",
                                     "EventBridge is not authorized to invoke the API destination", exhausted="")
        attempts, waited, status = 0, 0.0, None
        while True:
            attempts += 1
            self._metric(hook, "InvocationAttempts")
            if attempts > 1:
                self._metric(hook, "RetryInvocationAttempts", attempts - 1)
            status, retry_after = self._call(hook, body)
            if status is not None and 200 <= status < 300:
                self._metric(hook, "SuccessfulInvocationAttempts")
                return Delivery(hook.rule_name, event_id, True, attempts, status)
            message = f"HTTP {status}" if status is not None else "The request timed out or the connection failed"
            if status is not None and status not in RETRIED_STATUSES and status < 500:
                return self._dead_letter(hook, body, event_id, attempts - 1, status, "ERROR_FROM_TARGET", message,
                                         exhausted="")
            if retry_after is not None and retry_after < 0:
                return self._dead_letter(hook, body, event_id, attempts - 1, status, "ERROR_FROM_TARGET", message,
                                         exhausted="")
            waited += max(retry_after or 0.0, self._backoff(attempts))
            if attempts - 1 >= hook.max_retry_attempts:
                return self._dead_letter(hook, body, event_id, attempts - 1, status, "ERROR_FROM_TARGET", message,
                                         exhausted="MaximumRetryAttempts")
            if waited > hook.max_event_age_seconds:
                return self._dead_letter(hook, body, event_id, attempts - 1, status, "ERROR_FROM_TARGET", message,
                                         exhausted="MaximumEventAgeInSeconds")

    def _call(self, hook: Webhook, body: str) -> tuple[int | None, float | None]:
        """One POST: the status (None: no answer within the timeout) and `Retry-After` in seconds, if any."""
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   **self._authorization(hook)}
        request = urllib.request.Request(hook.endpoint, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=self._ssl) as response:
                return response.status, None
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and hook.connection.authorization_type == "OAUTH_CLIENT_CREDENTIALS":
                self._tokens.pop(hook.destination_arn, None)  # refused: fetch a new token next time
            return exc.code, _retry_after(exc.headers.get("Retry-After"))
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            return None, None

    def _authorization(self, hook: Webhook) -> dict[str, str]:
        connection = hook.connection
        if connection.authorization_type == "API_KEY":
            return {connection.api_key[0]: connection.api_key[1]}
        if connection.authorization_type == "BASIC":
            return {"Authorization": "Basic " + base64.b64encode(":".join(connection.basic).encode()).decode()}
        token = self._tokens.get(hook.destination_arn) or self._token(hook)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _token(self, hook: Webhook) -> str:
        """Client credentials for a token at the authorization endpoint ("" when it refuses: the call gets a 401)."""
        connection = hook.connection
        form = urllib.parse.urlencode({"grant_type": "client_credentials", **connection.token_parameters}).encode()
        credentials = base64.b64encode(":".join(connection.client).encode()).decode()
        request = urllib.request.Request(connection.token_url, data=form, method="POST", headers={
            "Authorization": f"Basic {credentials}", "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=self._ssl) as response:
                token = str(json.loads(response.read()).get("access_token", ""))
        except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError):
            return ""
        self._tokens[hook.destination_arn] = token
        return token

    def _dead_letter(self, hook: Webhook, body: str, event_id: str, retries: int, status: int | None, code: str,
                     message: str, *, exhausted: str) -> Delivery:
        attributes = {"ERROR_CODE": code, "ERROR_MESSAGE": message, "RULE_ARN": hook.rule_arn,
                      "TARGET_ARN": hook.destination_arn, "RETRY_ATTEMPTS": str(retries)}
        if exhausted:
            attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
        url = self._sqs.get_queue_url(QueueName=hook.dead_letter_queue)["QueueUrl"]
        self._sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes={
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()})
        self._metric(hook, "InvocationsSentToDlq")
        self._metric(hook, "DeadLetterInvocations")
        return Delivery(hook.rule_name, event_id, False, retries + 1 if code != "NO_PERMISSIONS" else 0, status, code)

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(_MAX_BACKOFF_SECONDS, _FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1)))

    def _metric(self, hook: Webhook, name: str, value: float = 1.0) -> None:
        self._cloudwatch.put_metric_data(Namespace="AWS/Events", MetricData=[{
            "MetricName": name, "Value": value, "Unit": "Count",
            "Dimensions": [{"Name": "RuleName", "Value": hook.rule_name}, {"Name": "EventBusName", "Value": hook.bus}]}])


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (a number; an HTTP date is read as "soon"), None when absent."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return 1.0
