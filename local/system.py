"""The whole pipeline on an emulated AWS: moto's server on 127.0.0.1, the handlers in-process.

This module owns the system's lifecycle and what it shows. `LocalSystem.start(stack)` runs the
Pulumi program under mocks, starts moto's server on a free port, provisions what the program
declared (`local.blueprint`), subscribes to the stack's status events and verifies the sandbox's
recipients; `publish` puts events on the bus (EventBridge in moto routes them through the declared
rules into the lanes' queues); `drain` and `run_report` hand the functions their events as Lambda
would (`local.emulated_lambda`: event source mappings with batch sizes, partial batch responses
and redrive; asynchronous invocation with its failure destination); and `summary` reports what was
sent and what was dead-lettered, and why, and what became of each published event
(`summary()["events"]`, `local.event_outcomes`).

Each function runs with its role (`local.function_roles`): its clients (and Lambda's own calls for
it: log delivery, tracing, queue polling) are authorized against the inline policies the program
declares for its role (`local.iam`). A denied call fails as AWS fails it and is listed in
`summary()["access_denied"]`; a mapping or failure destination the role could not use is refused at
start, as Lambda refuses it. The SES account is in the sandbox unless the stack file sets
`production: true`; as an operator of a sandbox account must, the system verifies the stack's
`recipientAllowlist` entries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import ssl
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends
from moto.server import ThreadedMotoServer

from ses_email_pipeline.delivery_status import STATUS_HANDLER
from ses_email_pipeline.handlers.shared.hashing import recipient_hash
from ses_email_pipeline.handlers.shared.status_names import (
    STATUS_DETAIL_TYPE, STATUS_SOURCE, latest_by_recipient, record_id)

from local.api_destinations import ApiDestinations, webhooks_from_mocks
from local.blueprint import Blueprint, FunctionSpec, QueueSpec, provision, queue_url
from local.emulated_lambda import EmulatedLambda
from local import sesv2_extensions
from local.emulated_ses import EmulatedSes
from local.event_outcomes import BusRoutes, DeadLetter, EventOutcomes, Published
from local.function_roles import FunctionRoles, PolicyEdits
from local.iam import Denial
from local.program import PROJECT, run_stack, stack_config
from local.sqs_events import json_or_text, string_attributes

REGION = "eu-west-1"
#: What the emulator's clients and every function's environment hold: any credentials do for moto.
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}

#: The status handler's entry point (`DeliveryStatus`), and the rule a producer would write to
#: hear of every status on the stack's bus (README, "Delivery status"): the local system
#: subscribes a queue of its own with it, as a producer's would be.
STATUS_SUBSCRIPTION = "local-status-subscriber"
STATUS_SUBSCRIPTION_PATTERN = {"source": [STATUS_SOURCE], "detail-type": [STATUS_DETAIL_TYPE]}


class LocalSystem:
    """A running local pipeline for one stack; use `with LocalSystem.start("dev") as system:`."""

    def __init__(self, server: ThreadedMotoServer, endpoint: str, blueprint: Blueprint, ses: EmulatedSes,
                 clients: Mapping[str, Any], *, sandbox: bool = True, policy_edits: PolicyEdits | None = None,
                 webhooks: ApiDestinations | None = None) -> None:
        self.server = server
        self.endpoint = endpoint
        self.blueprint = blueprint
        self.ses = ses
        #: The emulator with no IAM in the way: what AWS itself does (routing, redrive, metrics).
        self.clients = clients
        #: Each function's role, and the clients its code calls with.
        self.roles = FunctionRoles(blueprint, ses, endpoint, REGION, sandbox=sandbox, policy_edits=policy_edits)
        #: Lambda: the functions' handlers, invoked as their mappings and schedules would.
        self.lambda_service = EmulatedLambda(blueprint, clients, self.roles,
                                             {**_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}, REGION)
        #: The rules on the stack's bus, to tell where an event went.
        self.routes = BusRoutes(blueprint, REGION)
        #: Every entry `publish` put, in order, with the bus's answer.
        self.published: list[Published] = []
        #: The status webhooks (EventBridge API destinations), called as `drain` ends.
        self.webhooks = webhooks or ApiDestinations([], clients)

    @property
    def denials(self) -> list[Denial]:
        """Every call a function's role policy did not allow, once each, in order."""
        return self.roles.denials

    @property
    def log_records(self) -> list[tuple[str, dict[str, Any]]]:
        """The handlers' JSON log lines, with the lane of the function that wrote each."""
        return self.lambda_service.log_records

    @classmethod
    @contextlib.contextmanager
    def start(cls, stack: str = "dev", *, port: int = 0, routes: Sequence[Mapping[str, Any]] = (),
              config: Mapping[str, Any] | None = None,
              policy_edits: PolicyEdits | None = None,
              webhook_trust: ssl.SSLContext | None = None) -> Iterator[LocalSystem]:
        """Run the program for `stack`, start the emulator and provision; stop it on exit.

        Args:
            stack: the stack whose config the program reads.
            port: the emulator's port (0: any free one).
            routes: extra routes, as the stack's `routes` config would add them.
            config: settings replacing the stack file's, as `pulumi config set` would (no prefix).
            policy_edits: change a function's role policy before it is enforced, to see what a
                missing or extra statement does: `(function name, document) -> document`.
            webhook_trust: the certificates the webhooks' endpoints are checked against (tests
                serve HTTPS with their own); None: the system's.

        Raises:
            ProvisioningRefused: Lambda would refuse an event source mapping or a failure
                destination, because the function's role cannot use the queue.
        """
        os.environ.update(_CREDENTIALS)
        overrides = {**(config or {}), **({"routes": list(routes)} if routes else {})} or None
        mocks = run_stack(stack, overrides)
        blueprint = Blueprint.from_mocks(mocks)
        config = stack_config(stack)
        sandbox = str(config.get(f"{PROJECT}:production", False)).lower() != "true"
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto's server routes by the URL map it builds at start: what SES v2 adds must be there first.
        sesv2_extensions.install()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        host, bound_port = server.get_host_and_port()
        endpoint = f"http://{host}:{bound_port}"
        try:
            # moto keeps its state per process: start every system from an empty account.
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
            clients = {name: boto3.client(name, region_name=REGION, endpoint_url=endpoint)
                       for name in ("sqs", "events", "ses", "sesv2", "dynamodb", "cloudwatch", "logs")}
            provision(blueprint, clients)
            webhooks = ApiDestinations(webhooks_from_mocks(mocks.resources), clients, ssl_context=webhook_trust)
            webhooks.provision()
            _subscribe_to_statuses(blueprint, clients)
            if sandbox:
                _verify_recipients(clients["ses"], config.get(f"{PROJECT}:recipientAllowlist") or [])
            # SES publishes its events about each message on the default bus, as it does on AWS.
            ses = EmulatedSes(clients["sesv2"], blueprint.templates, sandbox=sandbox, region=REGION,
                              events=clients["events"])
            system = cls(server, endpoint, blueprint, ses, clients, sandbox=sandbox, policy_edits=policy_edits,
                         webhooks=webhooks)
            system.lambda_service.check_provisioning()
            yield system
        finally:
            server.stop()

    # --- events in -----------------------------------------------------------------------------

    def publish(self, entries: Sequence[Mapping[str, Any]]) -> list[str]:
        """Put events (`aws events put-events --entries` format) on the stack's bus; return their ids.

        Every entry goes to the stack's bus, whatever `EventBusName` it names or if it names none:
        a file written for the recipe (`<project>-event-bus`) or for another stack still runs here.
        Each entry and the bus's answer (its id, or the error for that entry) is kept in `published`;
        a refused entry's id is "".
        """
        bus = self.blueprint.buses[0]
        ids: list[str] = []
        for start in range(0, len(entries), 10):
            chunk = entries[start:start + 10]
            sent = [put_entry(entry, bus) for entry in chunk]
            response = self.clients["events"].put_events(Entries=sent)
            for written, entry, result in zip(chunk, sent, response["Entries"]):
                self.published.append(Published(
                    index=len(self.published), entry=entry, bus_in_entry=written.get("EventBusName"),
                    event_id=result.get("EventId", ""), error_code=result.get("ErrorCode", ""),
                    error_message=result.get("ErrorMessage", "")))
                ids.append(result.get("EventId", ""))
        return ids

    # --- the functions and the queues ----------------------------------------------------------

    def drain(self, *, fast_forward: bool = True) -> int:
        """Poll every lane until all are empty, as the event source mappings do; return how many
        invocations ran (`EmulatedLambda.drain`: `fast_forward` plays retry delays out at once).
        Then the webhooks are called with the status events their rules took meanwhile."""
        invocations = self.lambda_service.drain(fast_forward=fast_forward)
        self.webhooks.deliver()
        return invocations

    def run_report(self, scheduled_time: str | None = None) -> Any:
        """Invoke the report function as its schedule would (asynchronously: `EmulatedLambda.invoke_async`)."""
        # Schedules fire on the minute: the next one after everything published so far.
        next_minute = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        when = scheduled_time or next_minute.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._publish_queue_metrics()
        outcomes = []
        for arn in self.blueprint.scheduled_function_arns:
            function = self.blueprint.functions[arn]
            outcomes.append(self.lambda_service.invoke_async(function, {"scheduledTime": when}))
        return outcomes

    def _publish_queue_metrics(self) -> None:
        """What CloudWatch records every minute for each queue: its depth (AWS/SQS)."""
        for queue in self.blueprint.queues.values():
            depth = self.clients["sqs"].get_queue_attributes(
                QueueUrl=self.queue_url(queue), AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            self.clients["cloudwatch"].put_metric_data(Namespace="AWS/SQS", MetricData=[{
                "MetricName": "ApproximateNumberOfMessagesVisible", "Unit": "Count",
                "Value": float(depth["ApproximateNumberOfMessages"]),
                "Dimensions": [{"Name": "QueueName", "Value": queue.name}]}])

    def queue_url(self, queue: QueueSpec) -> str:
        """The URL of one of the program's queues in the emulator."""
        return queue_url(self.clients["sqs"], queue)

    def read_messages(self, queue: QueueSpec) -> list[dict[str, Any]]:
        """Every visible message of a queue, read from the emulator's own state: nothing received, hidden
        or counted. (Receiving them would hide them from the console and the operator tool for the
        visibility timeout, and add to each one's receive count.)"""
        held = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].get_queue(queue.name)
        return [{"MessageId": message.id, "Body": message.body,
                 "MessageAttributes": dict(message.message_attributes)} for message in held.messages]

    # --- what happened -------------------------------------------------------------------------

    def dead_letters(self) -> list[DeadLetter]:
        """Read (and keep) every message in the lanes' DLQs, the functions' failure destinations and the
        webhooks' DLQs, with the reason attached to it."""
        letters = self._failed_invocations()
        for lane, queue in self.blueprint.dead_letter_queues().items():
            for message in self.read_messages(queue):
                attributes = string_attributes(message)
                letters.append(DeadLetter(
                    lane=lane,
                    reason=attributes.get("FailureReason", "max receive count exceeded (queue redrive)"),
                    code=attributes.get("FailureCode", "MaxReceiveCountExceeded"),
                    event=json_or_text(message["Body"]),
                    field=attributes.get("FailureField", "-"),
                ))
        # Each webhook by the name its stack output gives it (`webhookDeadLetterQueueUrls`), labelled as
        # `email-pipeline dlq` labels it: `webhook-<name>`.
        webhook_names = {url.rpartition("/")[2]: name
                         for name, url in (self.blueprint.exports.get("webhookDeadLetterQueueUrls") or {}).items()}
        for hook in self.webhooks.webhooks:
            queue = next(q for q in self.blueprint.queues.values() if q.name == hook.dead_letter_queue)
            label = f"webhook-{webhook_names.get(hook.dead_letter_queue, hook.rule_name)}"
            for message in self.read_messages(queue):
                attributes = string_attributes(message)
                letters.append(DeadLetter(lane=label, reason=attributes.get("ERROR_MESSAGE", ""),
                                          code=attributes.get("ERROR_CODE", ""), event=json_or_text(message["Body"])))
        return letters

    def _failed_invocations(self) -> list[DeadLetter]:
        """Invocation records in the on-failure destinations: the event and the function's error."""
        letters = []
        for arn, config in self.blueprint.async_configs.items():
            queue = self.blueprint.queues.get(config.on_failure)
            if queue is None:
                continue
            function = self.blueprint.functions[arn]
            for message in self.read_messages(queue):
                record = json_or_text(message["Body"])
                error = record.get("responsePayload") or {}
                letters.append(DeadLetter(
                    lane=function.environment.get("EMAIL_LANE", function.name),
                    reason=f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}",
                    code=record.get("requestContext", {}).get("condition", "RetriesExhausted"),
                    event=record.get("requestPayload"),
                ))
        return letters

    def unrouted(self) -> list[Any]:
        """Read (and keep) every event that reached the bus and no route took."""
        return [event for _queue, event in self._unrouted_by_queue()]

    def _unrouted_by_queue(self) -> list[tuple[QueueSpec, Any]]:
        return [(queue, json_or_text(message["Body"]))
                for queue in self.blueprint.undrained_queues() for message in self.read_messages(queue)]

    def summary(self) -> dict[str, Any]:
        """`{"sent": [...], "dead_letters": [...], "unrouted": [...], "counts": {...}, "access_denied": [...],
        "events": [...]}`: `events` says, for each entry `publish` put, what became of it."""
        statuses = self.final_statuses()
        sent = [
            {"to": m.to, "cc": m.cc, "subject": m.subject, "text": m.text, "html": m.html,
             "template": m.template, "lane": m.lane, "ses_message_id": m.message_id,
             "delivery": self._by_address(m.to + m.cc + m.bcc, statuses.get(m.message_id, {}))}
            for m in self.ses.outbox
        ]
        dead_letters = self.dead_letters()
        unrouted = self._unrouted_by_queue()
        letters = [asdict(letter) for letter in dead_letters]
        counts: dict[str, dict[str, int]] = {}
        for message in sent:
            counts.setdefault(message["lane"], {"sent": 0, "dead_letters": 0})["sent"] += 1
        for letter in letters:
            counts.setdefault(letter["lane"], {"sent": 0, "dead_letters": 0})["dead_letters"] += 1
        denied = [{**asdict(denial), "message": denial.message} for denial in self.denials]
        events = EventOutcomes(self.published, self.log_records, dead_letters, unrouted, self.routes).of_all()
        deliveries = {message["ses_message_id"]: message["delivery"] for message in sent}
        for event in events:
            if event.get("ses_message_id") in deliveries:
                event["delivery"] = deliveries[event["ses_message_id"]]
        return {"sent": sent, "dead_letters": letters, "unrouted": [event for _queue, event in unrouted],
                "counts": counts, "access_denied": denied, "events": events}

    # --- delivery status ---------------------------------------------------------------------------

    def status_events(self) -> list[dict[str, Any]]:
        """Every status event the stack's bus carried, as a producer's subscription received it (details)."""
        queue = QueueSpec(STATUS_SUBSCRIPTION, "", 30, None)
        return [json_or_text(message["Body"]).get("detail", {}) for message in self.read_messages(queue)]

    def status_record(self, ses_message_id: str) -> dict[str, Any]:
        """The status record of a message (DynamoDB's item shape), or {} when there is none."""
        function = self.status_function()
        if function is None:
            return {}
        table, stack = function.environment["EMAIL_STATE_TABLE"], function.environment["EMAIL_STACK"]
        return self.clients["dynamodb"].get_item(TableName=table, Key={"id": {"S": record_id(stack, ses_message_id)}},
                                                 ConsistentRead=True).get("Item", {})

    def status_function(self) -> FunctionSpec | None:
        """The stack's status handler, if it has one (`statusEvents` or `statusRecords`)."""
        return next((f for f in self.blueprint.functions.values() if f.handler == STATUS_HANDLER), None)

    def final_statuses(self) -> dict[str, dict[str, str]]:
        """SES message id -> recipient hash -> the recipient's final status.

        From the status records when the stack keeps them, else from the status events (the
        highest status each recipient reached, as a producer would keep it).
        """
        function = self.status_function()
        if function is None:
            return {}
        if function.environment.get("EMAIL_STATUS_RECORDS") == "true":
            return {message.message_id: {recipient: entry["status"]["S"] for recipient, entry
                                         in latest_by_recipient(self.status_record(message.message_id)).items()}
                    for message in self.ses.outbox}
        found: dict[str, dict[str, str]] = {}
        ranks: dict[tuple[str, str], int] = {}
        for detail in self.status_events():
            message, hashed = detail["sesMessageId"], detail["recipient"]["hash"]
            if detail["rank"] >= ranks.get((message, hashed), 0):
                ranks[(message, hashed)] = detail["rank"]
                found.setdefault(message, {})[hashed] = detail["status"]
        return found

    def _by_address(self, addresses: Sequence[str], statuses: Mapping[str, str]) -> dict[str, str]:
        """A message's recipients' statuses by address (the local summary may show addresses: they are yours)."""
        function = self.status_function()
        if function is None:
            return {}
        key = function.environment["EMAIL_RECIPIENT_HASH_KEY"].encode()
        return {address: statuses.get(recipient_hash(address, key), "no status yet") for address in addresses}


def put_entry(entry: Mapping[str, Any], bus: str) -> dict[str, Any]:
    """The entry as PutEvents takes it, on `bus`; a `Detail` given as an object is sent as its JSON text."""
    return {**entry, "EventBusName": bus, "Detail": detail_text(entry.get("Detail", {}))}


def detail_text(detail: Any) -> Any:
    """`Detail` as PutEvents takes it: text; an object written in the file is sent as its JSON."""
    return detail if isinstance(detail, str) else json.dumps(detail)


def _subscribe_to_statuses(blueprint: Blueprint, clients: Mapping[str, Any]) -> None:
    """What a producer does to hear of statuses: a rule on the stack's bus, its queue as target."""
    url = clients["sqs"].create_queue(QueueName=STATUS_SUBSCRIPTION)["QueueUrl"]
    arn = clients["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = blueprint.buses[0]
    clients["events"].put_rule(Name=STATUS_SUBSCRIPTION, EventBusName=bus,
                               EventPattern=json.dumps(STATUS_SUBSCRIPTION_PATTERN))
    clients["events"].put_targets(Rule=STATUS_SUBSCRIPTION, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])


def _verify_recipients(ses: Any, allowlist: Sequence[str]) -> None:
    """What an operator of a sandbox account does: verify each allowlisted address and @domain."""
    for entry in allowlist:
        if entry.startswith("@"):
            ses.verify_domain_identity(Domain=entry[1:])
        else:
            ses.verify_email_identity(EmailAddress=entry)
