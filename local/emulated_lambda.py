"""Lambda for the emulated account: each function's handler run in-process, as the service would run it.

moto does not run the Python functions, so this does what Lambda does around them:

- **Event source mappings** (AWS Lambda Developer Guide, "Using Lambda with Amazon SQS"): each
  lane's queue is polled with the mapping's batch size, the batch is handed to the function as
  Lambda's SQS event, the records not listed in the partial batch response
  (`batchItemFailures`) are deleted, and the others stay for a later receive, and the queue's
  redrive policy once they reach its max receive count.
- **Asynchronous invocation** ("Asynchronous invocation"; "Capturing records of asynchronous
  invocations"): a failed invocation is retried, then Lambda's invocation record goes to the
  function's on-failure destination.
- **Around each invocation**: the function's environment variables (and its role's credentials);
  traces and logs sent with the role ("Sending Lambda function logs to CloudWatch Logs"): the
  lines land in the function's log group, where Logs Insights (`email-pipeline trace --recipient`)
  finds them, and the log group's metric filters apply to them, as CloudWatch Logs applies them.
- **The checks Lambda runs at creation**: CreateEventSourceMapping and PutFunctionEventInvokeConfig
  refuse a queue the function's role cannot use.

Every call Lambda makes with a function's role is authorized against it (`local.function_roles`).
Not emulated: the runtime's process, timeouts, concurrency, and the retry delays (see `drain`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ses_email_pipeline.handlers.clients import Clients

from local.blueprint import AsyncInvokeSpec, Blueprint, FunctionSpec, QueueSpec, queue_url
from local.function_roles import FunctionRoles
from local.iam import ProvisioningRefused
from local.iam_requests import destination_delivery, log_delivery, queue_polling, tracing
from local.lambda_context import LambdaContext
from local.sqs_events import lambda_record

#: A function's entry point: (event, context) -> response.
Handler = Callable[[dict[str, Any], Any], Any]

#: Where the functions' role policies are declared: what a denial tells the reader to edit.
ROLE_POLICY_SOURCE = "components/email_sender.py"
#: `drain` stops after this many rounds over the lanes even if a message keeps coming back.
_MAX_ROUNDS = 50


class EmulatedLambda:
    """The account's functions, invoked as Lambda invokes them.

    Args:
        blueprint: what the program declared: functions, mappings, async configs, metric filters.
        clients: the emulator's own clients (what AWS itself does: polling, metrics, destinations).
        roles: the functions' roles and the clients each function's code gets.
        environment: what Lambda adds to every function's environment: its role's credentials,
            its region, the emulator's endpoint.
        region: the emulated region, as Lambda's SQS records name it.
    """

    def __init__(self, blueprint: Blueprint, clients: Mapping[str, Any], roles: FunctionRoles,
                 environment: Mapping[str, str], region: str) -> None:
        self._blueprint = blueprint
        self._clients = clients
        self._roles = roles
        self._environment = dict(environment)
        self._region = region
        #: Each function's handler, built on its first invocation (`wrap` replaces one).
        self.handlers: dict[str, Handler] = {}
        #: The handlers' JSON log lines, with the lane of the function that wrote each.
        self.log_records: list[tuple[str, dict[str, Any]]] = []
        self._deferred: list[tuple[str, str]] = []
        self._streams: dict[str, set[str]] = {}  # log group -> the streams made in it

    def check_provisioning(self) -> None:
        """What Lambda checks of the execution role when a mapping or a destination is created.

        CreateEventSourceMapping answers InvalidParameterValueException "The provided execution
        role does not have permissions to call ReceiveMessage on SQS"; PutFunctionEventInvokeConfig
        refuses a destination the role cannot send to in the same way.

        Raises:
            ProvisioningRefused: a function's role cannot use its mapping's queue or its destination.
        """
        for queue, function, _batch in self._blueprint.lane_mappings():
            denial = self._roles.authorizer(function).check("CreateEventSourceMapping", queue_polling(queue.arn))
            if denial:
                raise ProvisioningRefused(
                    f"Lambda refused the event source mapping of {queue.name} for {function.name}: "
                    f"InvalidParameterValueException: The provided execution role does not have permissions to call "
                    f"{denial.action.split(':')[1]} on SQS ({denial.message}); add a statement allowing "
                    f"{denial.action} on {denial.resource} to the function's role policy in {ROLE_POLICY_SOURCE}",
                    denial)
        for arn, config in self._blueprint.async_configs.items():
            function = self._blueprint.functions[arn]
            if not config.on_failure:
                continue
            destination = config.on_failure
            denial = self._roles.authorizer(function).check("PutFunctionEventInvokeConfig",
                                                            destination_delivery(destination))
            if denial:
                raise ProvisioningRefused(
                    f"Lambda refused the on-failure destination of {function.name}: InvalidParameterValueException: "
                    f"The function's execution role does not have permissions to call "
                    f"{denial.action.split(':')[1]} on {destination} ({denial.message}); add a statement allowing "
                    f"{denial.action} on {denial.resource} to the function's role policy in {ROLE_POLICY_SOURCE}",
                    denial)

    # --- event source mappings -----------------------------------------------------------------

    def drain(self, *, fast_forward: bool = True) -> int:
        """Poll every lane until all are empty; return how many invocations ran.

        With `fast_forward`, a message the handler deferred (a retry delay) is made visible again
        at once, as if its delay had passed, so a throttle that recovers plays out in seconds.
        """
        invocations = 0
        for _round in range(_MAX_ROUNDS):
            progressed = False
            for queue, function, batch_size in self._blueprint.lane_mappings():
                while self._poll(queue, function, batch_size):
                    progressed = True
                    invocations += 1
            if fast_forward and self._deferred:
                self._release_deferred()
                progressed = True
            if not progressed:
                break
        return invocations

    def _poll(self, queue: QueueSpec, function: FunctionSpec, batch_size: int) -> bool:
        # The mapping polls with the function's role; without the permissions it stops polling.
        if self._roles.authorizer(function).check("Lambda event source mapping (polling)", queue_polling(queue.arn)):
            return False
        url = queue_url(self._clients["sqs"], queue)
        messages = self._clients["sqs"].receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(batch_size, 10), AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return False
        event = {"Records": [lambda_record(message, queue.arn, self._region) for message in messages]}
        response = self._invoke(function, event)
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._clients["sqs"].delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
        self._deferred.extend((url, m["ReceiptHandle"]) for m in messages if m["MessageId"] in failed)
        return True

    def _release_deferred(self) -> None:
        for url, handle in self._deferred:
            with contextlib.suppress(Exception):  # a handle already moved to the DLQ is gone
                self._clients["sqs"].change_message_visibility(QueueUrl=url, ReceiptHandle=handle,
                                                               VisibilityTimeout=0)
        self._deferred.clear()

    # --- asynchronous invocation ---------------------------------------------------------------

    def invoke_async(self, function: FunctionSpec, event: Mapping[str, Any]) -> Any:
        """An asynchronous invocation: Lambda retries a failed one, then hands the event to the
        on-failure destination (AWS Lambda Developer Guide, "Asynchronous invocation").

        Returns:
            The handler's response, or the error of its last attempt (`errorType`, `errorMessage`).
        """
        config = self._blueprint.async_configs.get(function.arn, AsyncInvokeSpec())
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
        destination = self._blueprint.queues.get(config.on_failure)
        if destination is None or self._roles.authorizer(function).check(
                "Lambda on-failure destination", destination_delivery(config.on_failure)):
            return
        record = {
            "version": "1.0", "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(),
            "requestContext": {"requestId": "local", "functionArn": f"{function.arn}:$LATEST",
                               "condition": "RetriesExhausted", "approximateInvokeCount": attempts},
            "requestPayload": dict(event),
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": dict(failure),
        }
        self._clients["sqs"].send_message(QueueUrl=queue_url(self._clients["sqs"], destination),
                                          MessageBody=json.dumps(record))

    # --- one invocation ------------------------------------------------------------------------

    def handler(self, function: FunctionSpec) -> Handler:
        """The function's handler, wired to the emulator (built inside its environment)."""
        if function.name not in self.handlers:
            module = importlib.import_module(_packaged(function.handler.rpartition(".")[0]))
            self.handlers[function.name] = _wire(module, self._roles.clients(function))
        return self.handlers[function.name]

    def wrap(self, function: FunctionSpec, wrapper: Callable[[Handler], Handler]) -> None:
        """Invoke `wrapper(handler)` in place of the function's handler from now on (to time or count it)."""
        self.handlers[function.name] = wrapper(self.handler(function))

    def _invoke(self, function: FunctionSpec, event: Mapping[str, Any]) -> Any:
        logs = io.StringIO()
        try:
            with _environment({**function.environment, **self._environment}), contextlib.redirect_stdout(logs):
                handler = self.handler(function)
                # Lambda's runtime is not emulated: the time left is the whole timeout, always.
                return handler(dict(event), LambdaContext(function.name, remaining_ms=function.timeout * 1000))
        finally:
            self._after_invocation(function, logs.getvalue())

    def _after_invocation(self, function: FunctionSpec, output: str) -> None:
        """What Lambda does with the role around an invocation: send its traces and its logs.

        A denial loses the traces or the logs (and so the metrics their filters make), never the
        invocation, as on AWS. The emulator itself keeps every line (`log_records`), denied or not:
        it is how the local system tells what became of each event.
        """
        records = _json_lines(output)
        lane = function.environment.get("EMAIL_LANE", function.name)
        self.log_records.extend((str(record.get("lane") or lane), record) for record in records)
        authorizer = self._roles.authorizer(function)
        if function.tracing:
            authorizer.check("Lambda active tracing", tracing())
        stream = f"{dt.date.today():%Y/%m/%d}/[$LATEST]local"
        if function.log_group and not authorizer.check(
                "Lambda log delivery", log_delivery(self._roles.scope, function.log_group, stream)):
            self._deliver_logs(function.log_group, stream, output)
            self._apply_metric_filters(function, records)
        sys.stdout.write(output)

    def _deliver_logs(self, group: str, stream: str, output: str) -> None:
        """The invocation's lines as log events of its stream (one PutLogEvents takes up to 10,000)."""
        lines = [line for line in output.splitlines() if line.strip()]
        if not lines:
            return
        logs = self._clients["logs"]
        if stream not in self._streams.setdefault(group, set()):
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_stream(logGroupName=group, logStreamName=stream)
            self._streams[group].add(stream)
        now = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
        for start in range(0, len(lines), 10_000):
            logs.put_log_events(logGroupName=group, logStreamName=stream,
                                logEvents=[{"timestamp": now, "message": line} for line in lines[start:start + 10_000]])

    def _apply_metric_filters(self, function: FunctionSpec, records: Sequence[Mapping[str, Any]]) -> None:
        """What CloudWatch Logs does with the function's log lines: the declared metric filters."""
        filters = [f for f in self._blueprint.metric_filters if f.log_group == function.log_group]
        datapoints: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            for metric_filter in filters:
                datapoint = metric_filter.metric_for(record)
                if datapoint:
                    datapoints.setdefault(metric_filter.namespace, []).append(datapoint)
        for namespace, data in datapoints.items():
            for start in range(0, len(data), 20):
                self._clients["cloudwatch"].put_metric_data(Namespace=namespace, MetricData=data[start:start + 20])


def _json_lines(output: str) -> list[dict[str, Any]]:
    """The JSON objects among a function's output lines (the handlers log one per line)."""
    records = []
    for line in output.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    return records


def _packaged(module_name: str) -> str:
    """The handler module under the package's one import name (Lambda's `handlers.<module>` is our
    `ses_email_pipeline.handlers.<module>`)."""
    return f"ses_email_pipeline.{module_name}"


def _wire(module: Any, clients: Mapping[str, Any]) -> Handler:
    """The handler as its module builds it (`build(clients)`), with the function's emulated clients."""
    return module.build(Clients(ses=clients["ses"], dynamodb=clients["dynamodb"], sqs=clients["sqs"],
                                cloudwatch=clients["cloudwatch"], events=clients["events"]))


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """The process's environment as the function's, for the invocation only."""
    saved = dict(os.environ)
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
