"""The whole pipeline on an emulated AWS: moto's server on 127.0.0.1, the handlers in-process.

`LocalSystem.start(stack)` runs the Pulumi program under mocks, starts moto's server on a free
port, provisions what the program declared and wires each function's handler with exactly the
environment variables the function declares. `publish` puts events on the bus (EventBridge in
moto routes them through the declared rules into the lanes' queues), `drain` polls each lane as
its event source mapping would (batch size, partial batch responses, redrive to the DLQ after the
max receive count), and `summary` reports what was sent and what was dead-lettered, and why, and
what became of each published event (`summary()["events"]`, correlated by event id).

Each function runs with its role: its clients (and Lambda's own calls for it: log delivery,
tracing, queue polling) are authorized against the inline policies the program declares for its
role (`local.iam`). A denied call fails as AWS fails it and is listed in `summary()["access_denied"]`;
a mapping or failure destination the role could not use is refused at start, as Lambda refuses it.
The SES account is in the sandbox unless the stack file sets `production: true`; as an operator
of a sandbox account must, the system verifies the stack's `recipientAllowlist` entries.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import functools
import importlib
import io
import json
import logging
import os
import sys
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import boto3
from moto.events.models import EventPattern
from moto.server import ThreadedMotoServer

from ses_email_pipeline.handlers.clients import Clients
from ses_email_pipeline.handlers.log import recipient_hash
from ses_email_pipeline.handlers.shared.log_events import EMAIL_DUPLICATE_SKIPPED, EMAIL_SENT
from ses_email_pipeline.handlers.shared.status_names import (
    STATUS_DETAIL_TYPE, STATUS_SOURCE, latest_by_recipient, record_id)

from local import dynamodb_limits, iam
from local.blueprint import AsyncInvokeSpec, Blueprint, FunctionSpec, QueueSpec, RuleSpec, provision
from local.mocks import ACCOUNT
from local.program import PROJECT, run_stack, stack_config
from local.emulated_ses import EmulatedSes
from local.sqs_events import lambda_record

REGION = "eu-west-1"
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
_MAX_ROUNDS = 50
#: Where the functions' role policies are declared: what a denial tells the reader to edit.
ROLE_POLICY_SOURCE = "components/email_sender.py"

#: The status handler's entry point (`DeliveryStatus`), and the rule a producer would write to
#: hear of every status on the stack's bus (README, "Delivery status"): the local system
#: subscribes a queue of its own with it, as a producer's would be.
STATUS_HANDLER = "handlers.status.handler"
STATUS_SUBSCRIPTION = "local-status-subscriber"
STATUS_SUBSCRIPTION_PATTERN = {"source": [STATUS_SOURCE], "detail-type": [STATUS_DETAIL_TYPE]}

#: Edits the policy a function's role declares before it is enforced: (function name, the role's
#: inline statements as one policy document, a copy) -> the document to enforce.
PolicyEdits = Callable[[str, dict[str, Any]], Mapping[str, Any]]


@dataclass
class Context:
    """The Lambda context a handler sees: its function's name and timeout."""

    function_name: str
    timeout_seconds: int
    aws_request_id: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


@dataclass(frozen=True)
class DeadLetter:
    lane: str
    reason: str
    code: str
    event: Any
    field: str = "-"  # the message's FailureField: where in the event, or why, more precisely than the code


class Outcome(StrEnum):
    """What became of one published event (`summary()["events"][i]["outcome"]`)."""

    SENT = "sent"
    DUPLICATE_SKIPPED = "duplicate skipped"  # an event with its idempotency key was sent before
    DEAD_LETTERED = "dead-lettered"
    UNROUTED = "unrouted"  # in the unrouted queue (`accepted`), or matched by no rule at all
    REFUSED = "refused by the bus"  # PutEvents answered an error for the entry: it never reached the bus
    STILL_QUEUED = "still queued"  # on its lane, not sent yet (deferred, or the lane is not polled)

    @property
    def delivered(self) -> bool:
        """Whether the event's email went out (now, or by the earlier event it duplicates)."""
        return self in (Outcome.SENT, Outcome.DUPLICATE_SKIPPED)


@dataclass(frozen=True)
class Published:
    """One entry put on the bus, and the bus's answer for it."""

    index: int
    entry: Mapping[str, Any]  # as PutEvents took it
    bus_in_entry: str | None  # the `EventBusName` it was written with
    event_id: str = ""
    error_code: str = ""
    error_message: str = ""


class LocalSystem:
    """A running local pipeline for one stack; use `with LocalSystem.start("dev") as system:`."""

    def __init__(self, server: ThreadedMotoServer, endpoint: str, blueprint: Blueprint, ses: EmulatedSes,
                 clients: Mapping[str, Any], *, sandbox: bool = True, policy_edits: PolicyEdits | None = None) -> None:
        self.server = server
        self.endpoint = endpoint
        self.blueprint = blueprint
        self.ses = ses
        #: The emulator with no IAM in the way: what AWS itself does (routing, redrive, metrics).
        self.clients = clients
        #: Every call a function's role policy did not allow, once each, in order.
        self.denials: list[iam.Denial] = []
        self.scope = iam.Scope(
            region=REGION, account=ACCOUNT, partition=_partition(blueprint), declared=blueprint.arns,
            identities=tuple(blueprint.identities), sandbox=sandbox)
        self._policy_edits = policy_edits
        self._authorizers: dict[str, iam.Authorizer] = {}
        self._function_clients: dict[str, dict[str, Any]] = {}
        self._handlers: dict[str, Any] = {}
        self._deferred: list[tuple[str, str]] = []
        #: Every entry `publish` put, in order, with the bus's answer.
        self.published: list[Published] = []
        #: The handlers' JSON log lines, with the lane of the function that wrote each.
        self.log_records: list[tuple[str, dict[str, Any]]] = []

    @classmethod
    @contextlib.contextmanager
    def start(cls, stack: str = "dev", *, port: int = 0, routes: Sequence[Mapping[str, Any]] = (),
              config: Mapping[str, Any] | None = None,
              policy_edits: PolicyEdits | None = None) -> Iterator[LocalSystem]:
        """Run the program for `stack`, start the emulator and provision; stop it on exit.

        Args:
            stack: the stack whose config the program reads.
            port: the emulator's port (0: any free one).
            routes: extra routes, as the stack's `routes` config would add them.
            config: settings replacing the stack file's, as `pulumi config set` would (no prefix).
            policy_edits: change a function's role policy before it is enforced, to see what a
                missing or extra statement does: `(function name, document) -> document`.

        Raises:
            ProvisioningRefused: Lambda would refuse an event source mapping or a failure
                destination, because the function's role cannot use the queue.
        """
        os.environ.update(_CREDENTIALS)
        overrides = {**(config or {}), **({"routes": list(routes)} if routes else {})} or None
        blueprint = Blueprint.from_mocks(run_stack(stack, overrides))
        config = stack_config(stack)
        sandbox = str(config.get(f"{PROJECT}:production", False)).lower() != "true"
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
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
            _subscribe_to_statuses(blueprint, clients)
            if sandbox:
                _verify_recipients(clients["ses"], config.get(f"{PROJECT}:recipientAllowlist") or [])
            # SES publishes its events about each message on the default bus, as it does on AWS.
            ses = EmulatedSes(clients["sesv2"], blueprint.templates, sandbox=sandbox, region=REGION,
                              events=clients["events"])
            system = cls(server, endpoint, blueprint, ses, clients, sandbox=sandbox, policy_edits=policy_edits)
            system._check_provisioning()
            yield system
        finally:
            server.stop()

    def _check_provisioning(self) -> None:
        """What Lambda checks of the execution role when a mapping or a destination is created.

        CreateEventSourceMapping answers InvalidParameterValueException "The provided execution
        role does not have permissions to call ReceiveMessage on SQS"; PutFunctionEventInvokeConfig
        refuses a destination the role cannot send to in the same way.
        """
        for queue, function, _batch in self.blueprint.lane_mappings():
            denial = self._authorizer(function).check("CreateEventSourceMapping", iam.queue_polling(queue.arn))
            if denial:
                raise iam.ProvisioningRefused(
                    f"Lambda refused the event source mapping of {queue.name} for {function.name}: "
                    f"InvalidParameterValueException: The provided execution role does not have permissions to call "
                    f"{denial.action.split(':')[1]} on SQS ({denial.message}); add a statement allowing "
                    f"{denial.action} on {denial.resource} to the function's role policy in {ROLE_POLICY_SOURCE}",
                    denial)
        for arn, config in self.blueprint.async_configs.items():
            function = self.blueprint.functions[arn]
            if not config.on_failure:
                continue
            destination = config.on_failure
            denial = self._authorizer(function).check("PutFunctionEventInvokeConfig",
                                                      iam.destination_delivery(destination))
            if denial:
                raise iam.ProvisioningRefused(
                    f"Lambda refused the on-failure destination of {function.name}: InvalidParameterValueException: "
                    f"The function's execution role does not have permissions to call "
                    f"{denial.action.split(':')[1]} on {destination} ({denial.message}); add a statement allowing "
                    f"{denial.action} on {denial.resource} to the function's role policy in {ROLE_POLICY_SOURCE}",
                    denial)

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

    # --- handlers ------------------------------------------------------------------------------

    def drain(self, *, fast_forward: bool = True) -> int:
        """Poll every lane until all are empty; return how many invocations ran.

        With `fast_forward`, a message the handler deferred (a retry delay) is made visible again
        at once, as if its delay had passed, so a throttle that recovers plays out in seconds.
        """
        invocations = 0
        for _round in range(_MAX_ROUNDS):
            progressed = False
            for queue, function, batch_size in self.blueprint.lane_mappings():
                while self._poll(queue, function, batch_size):
                    progressed = True
                    invocations += 1
            if fast_forward and self._deferred:
                self._release_deferred()
                progressed = True
            if not progressed:
                break
        return invocations

    def run_report(self, scheduled_time: str | None = None) -> Any:
        """Invoke the report function as its schedule would (asynchronously: see `_invoke_async`)."""
        # Schedules fire on the minute: the next one after everything published so far.
        next_minute = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        when = scheduled_time or next_minute.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._publish_queue_metrics()
        outcomes = []
        for arn in self.blueprint.scheduled_function_arns:
            function = self.blueprint.functions[arn]
            outcomes.append(self._invoke_async(function, {"scheduledTime": when}))
        return outcomes

    def _invoke_async(self, function: FunctionSpec, event: Mapping[str, Any]) -> Any:
        """An asynchronous invocation: Lambda retries a failed one, then hands the event to the
        on-failure destination (AWS Lambda Developer Guide, "Asynchronous invocation")."""
        config = self.blueprint.async_configs.get(function.arn, AsyncInvokeSpec())
        attempts = 1 + config.maximum_retry_attempts
        failure: dict[str, str] = {}
        for _attempt in range(attempts):
            try:
                return self._invoke(function, event)
            except Exception as exc:  # noqa: BLE001 - Lambda's runtime catches whatever a handler raises
                failure = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        self._deliver_failure(function, config, event, failure, attempts)
        return failure

    def _deliver_failure(self, function: FunctionSpec, config: AsyncInvokeSpec, event: Mapping[str, Any],
                         failure: Mapping[str, str], attempts: int) -> None:
        """Lambda's invocation record, sent to the destination with the function's role (lost if it may not)."""
        destination = self.blueprint.queues.get(config.on_failure)
        if destination is None or self._authorizer(function).check(
                "Lambda on-failure destination", iam.destination_delivery(config.on_failure)):
            return
        record = {
            "version": "1.0", "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
            "requestContext": {"requestId": "local", "functionArn": f"{function.arn}:$LATEST",
                               "condition": "RetriesExhausted", "approximateInvokeCount": attempts},
            "requestPayload": dict(event),
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": dict(failure),
        }
        self.clients["sqs"].send_message(QueueUrl=self._url(destination), MessageBody=json.dumps(record))

    def _publish_queue_metrics(self) -> None:
        """What CloudWatch records every minute for each queue: its depth (AWS/SQS)."""
        for queue in self.blueprint.queues.values():
            depth = self.clients["sqs"].get_queue_attributes(
                QueueUrl=self._url(queue), AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            self.clients["cloudwatch"].put_metric_data(Namespace="AWS/SQS", MetricData=[{
                "MetricName": "ApproximateNumberOfMessagesVisible", "Unit": "Count",
                "Value": float(depth["ApproximateNumberOfMessages"]),
                "Dimensions": [{"Name": "QueueName", "Value": queue.name}]}])

    def _poll(self, queue: QueueSpec, function: FunctionSpec, batch_size: int) -> bool:
        # The mapping polls with the function's role; without the permissions it stops polling.
        if self._authorizer(function).check("Lambda event source mapping (polling)", iam.queue_polling(queue.arn)):
            return False
        url = self._url(queue)
        messages = self.clients["sqs"].receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(batch_size, 10), AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        event = {"Records": [lambda_record(message, queue.arn, REGION) for message in messages]}
        response = self._invoke(function, event)
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.clients["sqs"].delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
        self._deferred.extend((url, m["ReceiptHandle"]) for m in messages if m["MessageId"] in failed)
        return True

    def _invoke(self, function: FunctionSpec, event: Mapping[str, Any]) -> Any:
        logs = io.StringIO()
        try:
            with _environment({**function.environment, **_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}), \
                    contextlib.redirect_stdout(logs):
                handler = self._handler(function)
                return handler(dict(event), Context(function.name, function.timeout))
        finally:
            self._after_invocation(function, logs.getvalue())

    def _after_invocation(self, function: FunctionSpec, output: str) -> None:
        """What Lambda does with the role around an invocation: send its traces and its logs.

        A denial loses the traces or the logs (and so the metrics their filters make), never the
        invocation, as on AWS. The emulator itself keeps every line (`log_records`), denied or not:
        it is how `summary()` tells what became of each event.
        """
        records = _json_lines(output)
        lane = function.environment.get("EMAIL_LANE", function.name)
        self.log_records.extend((str(record.get("lane") or lane), record) for record in records)
        authorizer = self._authorizer(function)
        if function.tracing:
            authorizer.check("Lambda active tracing", iam.tracing())
        stream = f"{dt.date.today():%Y/%m/%d}/[$LATEST]local"
        if function.log_group and not authorizer.check(
                "Lambda log delivery", iam.log_delivery(self.scope, function.log_group, stream)):
            self._apply_metric_filters(function, records)
        sys.stdout.write(output)

    def _apply_metric_filters(self, function: FunctionSpec, records: Sequence[Mapping[str, Any]]) -> None:
        """What CloudWatch Logs does with the function's log lines: the declared metric filters."""
        filters = [f for f in self.blueprint.metric_filters if f.log_group == function.log_group]
        datapoints: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            for metric_filter in filters:
                datapoint = metric_filter.metric_for(record)
                if datapoint:
                    datapoints.setdefault(metric_filter.namespace, []).append(datapoint)
        for namespace, data in datapoints.items():
            for start in range(0, len(data), 20):
                self.clients["cloudwatch"].put_metric_data(Namespace=namespace, MetricData=data[start:start + 20])

    def _handler(self, function: FunctionSpec) -> Any:
        """The function's handler, wired to the emulator (built inside its environment)."""
        if function.name not in self._handlers:
            module = importlib.import_module(_packaged(function.handler.rpartition(".")[0]))
            self._handlers[function.name] = _wire(module, self._clients_of(function))
        return self._handlers[function.name]

    def _authorizer(self, function: FunctionSpec) -> iam.Authorizer:
        """The function's role policy (after `policy_edits`), checking its calls."""
        if function.name not in self._authorizers:
            document = self.blueprint.policy_document(function)
            if self._policy_edits is not None:
                document = dict(self._policy_edits(function.name, copy.deepcopy(document)))
            caller = iam.Caller(function.name, function.role, iam.Policy.from_documents([document]))
            self._authorizers[function.name] = iam.Authorizer(caller, self.scope, self._record_denial)
        return self._authorizers[function.name]

    def _clients_of(self, function: FunctionSpec) -> dict[str, Any]:
        """The clients a function's code gets: each call authorized against its role first."""
        if function.name not in self._function_clients:
            authorizer = self._authorizer(function)
            clients = {name: authorizer.install(boto3.client(name, region_name=REGION, endpoint_url=self.endpoint))
                       for name in ("sqs", "dynamodb", "cloudwatch", "events")}
            dynamodb_limits.install(clients["dynamodb"])
            clients["ses"] = self.ses.for_caller(
                lambda operation, params: authorizer.authorize("sesv2", operation, params))
            self._function_clients[function.name] = clients
        return self._function_clients[function.name]

    def _record_denial(self, denial: iam.Denial) -> None:
        if denial not in self.denials:
            self.denials.append(denial)

    def _release_deferred(self) -> None:
        for url, handle in self._deferred:
            with contextlib.suppress(Exception):  # a handle already moved to the DLQ is gone
                self.clients["sqs"].change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        self._deferred.clear()

    def _url(self, queue: QueueSpec) -> str:
        return self.clients["sqs"].get_queue_url(QueueName=queue.name)["QueueUrl"]

    def _read_all(self, queue: QueueSpec) -> list[dict[str, Any]]:
        """Every visible message of a queue, left on it and visible again (one receive takes at most 10)."""
        sqs, url = self.clients["sqs"], self._url(queue)
        messages: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                           VisibilityTimeout=60).get("Messages", []):
            messages += batch
        for start in range(0, len(messages), 10):
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start:start + 10])])
        return messages

    # --- what happened -------------------------------------------------------------------------

    def dead_letters(self) -> list[DeadLetter]:
        """Read (and keep) every message in the lanes' DLQs and the functions' failure destinations,
        with the reason attached to it."""
        letters = self._failed_invocations()
        for lane, queue in self.blueprint.dead_letter_queues().items():
            for message in self._read_all(queue):
                attributes = {k: v.get("StringValue", "") for k, v in message.get("MessageAttributes", {}).items()}
                letters.append(DeadLetter(
                    lane=lane,
                    reason=attributes.get("FailureReason", "max receive count exceeded (queue redrive)"),
                    code=attributes.get("FailureCode", "MaxReceiveCountExceeded"),
                    event=_parse(message["Body"]),
                    field=attributes.get("FailureField", "-"),
                ))
        return letters

    def _failed_invocations(self) -> list[DeadLetter]:
        """Invocation records in the on-failure destinations: the event and the function's error."""
        letters = []
        for arn, config in self.blueprint.async_configs.items():
            queue = self.blueprint.queues.get(config.on_failure)
            if queue is None:
                continue
            function = self.blueprint.functions[arn]
            for message in self._read_all(queue):
                record = _parse(message["Body"])
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
        return [(queue, _parse(message["Body"]))
                for queue in self.blueprint.undrained_queues() for message in self._read_all(queue)]

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
        events = EventOutcomes(self, dead_letters, unrouted).of_all()
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
        return [_parse(message["Body"]).get("detail", {}) for message in self._read_all(queue)]

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

    # --- which rules take an event ---------------------------------------------------------------

    def stack_rules(self) -> list[RuleSpec]:
        """The rules on the stack's bus: what the pipeline accepts, and where each kind goes."""
        return [rule for rule in self.blueprint.rules if rule.bus == self.blueprint.buses[0]]

    def accepted_kinds(self) -> list[str]:
        """`source / detail-type` of every event some rule on the stack's bus may take, as its patterns say."""
        kinds: dict[str, None] = {}
        for rule in self.stack_rules():
            pattern = json.loads(rule.pattern)
            sources = [s for s in pattern.get("source", ["any source"]) if isinstance(s, str)]
            types = [t for t in pattern.get("detail-type", ["any detail-type"]) if isinstance(t, str)]
            kinds.update((f"{source} / {kind}", None) for source in sources for kind in types)
        return list(kinds)

    def lanes_taking(self, published: Published) -> list[str]:
        """The lanes whose rules match the event, by the emulator's own pattern matcher."""
        lanes = {queue.arn: function.environment.get("EMAIL_LANE", function.name)
                 for queue, function, _batch in self.blueprint.lane_mappings()}
        event = _as_delivered(published)
        return [lanes[arn] for rule in self.stack_rules() if EventPattern.load(rule.pattern).matches_event(event)
                for arn in rule.target_arns if arn in lanes]


class EventOutcomes:
    """What became of each published event, from what the system shows of it.

    Correlated by event id: the bus's answer to PutEvents, the handlers' log lines (`event_id`,
    `event`), the dead letters' bodies (the original event, its `id`) and the unrouted queue's
    messages (the original events). The first rule that applies decides an event's outcome.
    """

    def __init__(self, system: LocalSystem, dead_letters: Sequence[DeadLetter],
                 unrouted: Sequence[tuple[QueueSpec, Any]]) -> None:
        self._system = system
        self._letters = {letter.event.get("id"): letter for letter in dead_letters if isinstance(letter.event, dict)}
        self._unrouted = {event.get("id"): queue for queue, event in unrouted if isinstance(event, dict)}
        self._logs: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for lane, record in system.log_records:
            if record.get("event_id"):
                self._logs.setdefault(str(record["event_id"]), []).append((lane, record))
        self._rules: tuple[Callable[[Published], dict[str, Any] | None], ...] = (
            self._refused, functools.partial(self._logged_outcome, EMAIL_SENT, Outcome.SENT), self._dead_lettered,
            functools.partial(self._logged_outcome, EMAIL_DUPLICATE_SKIPPED, Outcome.DUPLICATE_SKIPPED),
            self._unrouted_queue, self._still_queued, self._not_accepted)

    def of_all(self) -> list[dict[str, Any]]:
        """One dict per published entry, in order: index, event id, outcome and what explains it."""
        return [self._of(published) for published in self._system.published]

    def _of(self, published: Published) -> dict[str, Any]:
        entry = published.entry
        base = {"index": published.index, "event_id": published.event_id or None, "source": entry.get("Source"),
                "detail_type": entry.get("DetailType"), "bus": entry["EventBusName"],
                "bus_in_entry": published.bus_in_entry}
        # The last rule (`_not_accepted`) always applies.
        return base | next(found for rule in self._rules if (found := rule(published)) is not None)

    def _logged(self, published: Published, event: str) -> tuple[str, dict[str, Any]] | None:
        return next(((lane, record) for lane, record in self._logs.get(published.event_id, [])
                     if record.get("event") == event), None)

    def _refused(self, published: Published) -> dict[str, Any] | None:
        if not published.error_code:
            return None
        return {"outcome": Outcome.REFUSED, "code": published.error_code, "message": published.error_message}

    def _logged_outcome(self, event: str, outcome: Outcome, published: Published) -> dict[str, Any] | None:
        """Sent or skipped as a duplicate: what a handler logged about the event (with the SES message id)."""
        found = self._logged(published, event)
        if found is None:
            return None
        lane, record = found
        return {"outcome": outcome, "lane": lane, "ses_message_id": record.get("ses_message_id")}

    def _dead_lettered(self, published: Published) -> dict[str, Any] | None:
        letter = self._letters.get(published.event_id)
        if letter is None:
            return None
        reason = letter.reason.removeprefix(f"{letter.field}: ")
        return {"outcome": Outcome.DEAD_LETTERED, "lane": letter.lane, "code": letter.code, "field": letter.field,
                "reason": reason}

    def _unrouted_queue(self, published: Published) -> dict[str, Any] | None:
        queue = self._unrouted.get(published.event_id)
        if queue is None:
            return None
        return {"outcome": Outcome.UNROUTED, "accepted": True, "queue": queue.name,
                "reason": f"the pipeline accepts its source and detail-type, but no route takes it; "
                          f"it waits in the unrouted queue {queue.name}"}

    def _still_queued(self, published: Published) -> dict[str, Any] | None:
        lanes = self._system.lanes_taking(published)
        if not lanes:
            return None
        logged = self._logs.get(published.event_id, [])
        code = next((record.get("error_code") for _lane, record in reversed(logged) if record.get("error_code")), None)
        return {"outcome": Outcome.STILL_QUEUED, "lane": lanes[0], "code": code,
                "reason": f"on lane {lanes[0]}, not sent yet"
                          + (f" (last: {code})" if code else " (its lane's function has not taken it)")}

    def _not_accepted(self, published: Published) -> dict[str, Any]:
        accepted = ", ".join(self._system.accepted_kinds()) or "nothing"
        return {"outcome": Outcome.UNROUTED, "accepted": False, "queue": None,
                "reason": f"the pipeline does not accept this source and detail-type (it accepts {accepted}); "
                          "no rule matched it, so the bus dropped it"}


def put_entry(entry: Mapping[str, Any], bus: str) -> dict[str, Any]:
    """The entry as PutEvents takes it, on `bus`; a `Detail` given as an object is sent as its JSON text."""
    return {**entry, "EventBusName": bus, "Detail": detail_text(entry.get("Detail", {}))}


def detail_text(detail: Any) -> Any:
    """`Detail` as PutEvents takes it: text; an object written in the file is sent as its JSON."""
    return detail if isinstance(detail, str) else json.dumps(detail)


def _as_delivered(published: Published) -> dict[str, Any]:
    """The event as EventBridge delivers an entry to a rule's pattern (AWS's "event structure")."""
    entry = published.entry
    return {"version": "0", "id": published.event_id, "detail-type": entry.get("DetailType"),
            "source": entry.get("Source"), "account": ACCOUNT,
            "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
            "resources": list(entry.get("Resources", [])), "detail": _parse(entry.get("Detail", "{}"))}


def _json_lines(output: str) -> list[dict[str, Any]]:
    """The JSON objects among a function's output lines (the handlers log one per line)."""
    records = []
    for line in output.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    return records


def _packaged(module_name: str) -> str:
    """The handler module under the package's one import name (Lambda's `handlers.<module>` is our `ses_email_pipeline.handlers.<module>`)."""
    return f"ses_email_pipeline.{module_name}"


def _wire(module: Any, clients: Mapping[str, Any]) -> Any:
    """The handler as its module builds it (`build(clients)`), with the function's emulated clients."""
    return module.build(Clients(ses=clients["ses"], dynamodb=clients["dynamodb"], sqs=clients["sqs"],
                                cloudwatch=clients["cloudwatch"], events=clients["events"]))


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


def _partition(blueprint: Blueprint) -> str:
    """The partition the program's ARNs are in (`aws`, `aws-cn`, ...)."""
    return next((arn.split(":")[1] for arn in blueprint.functions), "aws")


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _parse(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body
