"""The whole pipeline on an emulated AWS: moto's server on 127.0.0.1, the handlers in-process.

`LocalSystem.start(stack)` runs the Pulumi program under mocks, starts moto's server on a free
port, provisions what the program declared and wires each function's handler with exactly the
environment variables the function declares. `publish` puts events on the bus (EventBridge in
moto routes them through the declared rules into the lanes' queues), `drain` polls each lane as
its event source mapping would (batch size, partial batch responses, redrive to the DLQ after the
max receive count), and `summary` reports what was sent and what was dead-lettered, and why.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import io
import json
import logging
import os
import sys
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from local.blueprint import Blueprint, FunctionSpec, QueueSpec, provision
from local.program import run_stack
from local.ses import EmulatedSes

REGION = "eu-west-1"
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
_MAX_ROUNDS = 50


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


class LocalSystem:
    """A running local pipeline for one stack; use `with LocalSystem.start("dev") as system:`."""

    def __init__(self, server: ThreadedMotoServer, endpoint: str, blueprint: Blueprint, ses: EmulatedSes,
                 clients: Mapping[str, Any]) -> None:
        self.server = server
        self.endpoint = endpoint
        self.blueprint = blueprint
        self.ses = ses
        self.clients = clients
        self._handlers: dict[str, Any] = {}
        self._deferred: list[tuple[str, str]] = []

    @classmethod
    @contextlib.contextmanager
    def start(cls, stack: str = "dev", *, port: int = 0, routes: Sequence[Mapping[str, Any]] = ()) -> Iterator[LocalSystem]:
        """Run the program for `stack`, start the emulator and provision; stop it on exit."""
        os.environ.update(_CREDENTIALS)
        overrides = {"routes": list(routes)} if routes else None
        blueprint = Blueprint.from_mocks(run_stack(stack, overrides))
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
            ses = EmulatedSes(clients["sesv2"], blueprint.templates)
            yield cls(server, endpoint, blueprint, ses, clients)
        finally:
            server.stop()

    # --- events in -----------------------------------------------------------------------------

    def publish(self, entries: Sequence[Mapping[str, Any]]) -> list[str]:
        """Put events (`aws events put-events --entries` format) on the bus; return their ids.

        Entries without `EventBusName` go to the stack's bus, as the recipe's commands name it.
        """
        bus = self.blueprint.buses[0]
        ids: list[str] = []
        for start in range(0, len(entries), 10):
            chunk = [{**entry, "EventBusName": entry.get("EventBusName") or bus} for entry in entries[start:start + 10]]
            for entry in chunk:
                if not isinstance(entry.get("Detail"), str):
                    entry["Detail"] = json.dumps(entry.get("Detail", {}))
            response = self.clients["events"].put_events(Entries=chunk)
            ids.extend(result.get("EventId", "") for result in response["Entries"])
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
        """Invoke the report function as its schedule would."""
        # Schedules fire on the minute: the next one after everything published so far.
        next_minute = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        when = scheduled_time or next_minute.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._publish_queue_metrics()
        outcomes = []
        for arn in self.blueprint.scheduled_function_arns:
            function = self.blueprint.functions[arn]
            outcomes.append(self._invoke(function, {"scheduledTime": when}))
        return outcomes

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
        url = self._url(queue)
        messages = self.clients["sqs"].receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(batch_size, 10), AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        event = {"Records": [_record(message, queue) for message in messages]}
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
        with _environment({**function.environment, **_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}), \
                contextlib.redirect_stdout(logs):
            handler = self._handler(function)
            result = handler(dict(event), Context(function.name, function.timeout))
        self._apply_metric_filters(function, logs.getvalue())
        sys.stdout.write(logs.getvalue())
        return result

    def _apply_metric_filters(self, function: FunctionSpec, output: str) -> None:
        """What CloudWatch Logs does with the function's log lines: the declared metric filters."""
        filters = [f for f in self.blueprint.metric_filters if f.log_group == function.log_group]
        datapoints: dict[str, list[dict[str, Any]]] = {}
        for line in output.splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
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
            module_name, _, attribute = function.handler.rpartition(".")
            module = importlib.import_module(module_name)
            self._handlers[function.name] = _wire(module, attribute, self.ses, self.clients)
        return self._handlers[function.name]

    def _release_deferred(self) -> None:
        for url, handle in self._deferred:
            with contextlib.suppress(Exception):  # a handle already moved to the DLQ is gone
                self.clients["sqs"].change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        self._deferred.clear()

    def _url(self, queue: QueueSpec) -> str:
        return self.clients["sqs"].get_queue_url(QueueName=queue.name)["QueueUrl"]

    # --- what happened -------------------------------------------------------------------------

    def dead_letters(self) -> list[DeadLetter]:
        """Read (and keep) every message in the lanes' DLQs, with the reason attached to it."""
        letters = []
        for lane, queue in self.blueprint.dead_letter_queues().items():
            messages = self.clients["sqs"].receive_message(
                QueueUrl=self._url(queue), MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                VisibilityTimeout=0).get("Messages", [])
            for message in messages:
                attributes = {k: v.get("StringValue", "") for k, v in message.get("MessageAttributes", {}).items()}
                letters.append(DeadLetter(
                    lane=lane,
                    reason=attributes.get("FailureReason", "max receive count exceeded (queue redrive)"),
                    code=attributes.get("FailureCode", "MaxReceiveCountExceeded"),
                    event=_parse(message["Body"]),
                ))
        return letters

    def unrouted(self) -> list[Any]:
        """Read (and keep) every event that reached the bus and no route took."""
        events = []
        for queue in self.blueprint.undrained_queues():
            messages = self.clients["sqs"].receive_message(
                QueueUrl=self._url(queue), MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
            events += [_parse(message["Body"]) for message in messages]
        return events

    def summary(self) -> dict[str, Any]:
        """`{"sent": [...], "dead_letters": [...], "unrouted": [...], "counts": {...}}`."""
        sent = [
            {"to": m.to, "cc": m.cc, "subject": m.subject, "text": m.text, "html": m.html,
             "template": m.template, "lane": m.lane}
            for m in self.ses.outbox
        ]
        letters = [asdict(letter) for letter in self.dead_letters()]
        counts: dict[str, dict[str, int]] = {}
        for message in sent:
            counts.setdefault(message["lane"], {"sent": 0, "dead_letters": 0})["sent"] += 1
        for letter in letters:
            counts.setdefault(letter["lane"], {"sent": 0, "dead_letters": 0})["dead_letters"] += 1
        return {"sent": sent, "dead_letters": letters, "unrouted": self.unrouted(), "counts": counts}


def _wire(module: Any, attribute: str, ses: EmulatedSes, clients: Mapping[str, Any]) -> Any:
    """Give a handler module the emulator's clients in place of its module-scope ones."""
    from handlers import lane as lane_module

    if hasattr(module, "compose"):
        return lane_module.entry_point(module.compose, lane_module.LaneClients(
            ses=ses, sqs=clients["sqs"], dynamodb=clients["dynamodb"]))
    module.SES_CLIENT, module.DYNAMODB_CLIENT, module.CLOUDWATCH_CLIENT = ses, clients["dynamodb"], clients["cloudwatch"]
    module._report.cache_clear()
    return getattr(module, attribute)


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _record(message: Mapping[str, Any], queue: QueueSpec) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it over (message attributes in camelCase)."""
    attributes = {name: {"stringValue": value.get("StringValue", ""), "dataType": value.get("DataType", "String"),
                         "stringListValues": [], "binaryListValues": []}
                  for name, value in message.get("MessageAttributes", {}).items()}
    return {
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": message.get("Attributes", {}), "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue.arn,
        "awsRegion": REGION,
    }


def _parse(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body
