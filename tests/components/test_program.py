"""The whole program (`__main__.py`) under Pulumi's mocks, with the dev stack's config."""

from __future__ import annotations

import json

import pytest

from local import snapshot
from local.mocks import RecordingMocks
from local.program import ROOT, run_stack, stack_config
from ses_email_pipeline.stack_config import StackSettings, parse
from ses_email_pipeline.template_files import discover


@pytest.fixture(scope="module")
def dev() -> RecordingMocks:
    return run_stack("dev")


def dev_settings() -> StackSettings:
    """The dev stack's settings as the program reads them from Pulumi.dev.yaml (its lanes, its routes)."""
    raw = {key.split(":", 1)[1]: value for key, value in stack_config("dev").items()
           if key.startswith("email-pipeline:")}
    return parse(raw, recipient_hash_key="k")


def alarm_dimensions(mocks: RecordingMocks) -> list[dict[str, str]]:
    return [a.inputs.get("dimensions") or {} for a in mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")]


def test_program_declares_the_four_components(dev: RecordingMocks) -> None:
    components = {r.typ for r in dev.resources if r.typ.startswith("email-pipeline:")}
    assert components == {"email-pipeline:index:EmailSender", "email-pipeline:index:EventRouter",
                          "email-pipeline:index:DeliveryStatus", "email-pipeline:index:Monitoring"}


def test_every_function_has_error_and_throttle_alarms(dev: RecordingMocks) -> None:
    functions = {f.inputs["name"] for f in dev.of_type("aws:lambda/function:Function")}
    alarms = dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    for function in functions:
        metrics = {a.inputs["metricName"] for a in alarms
                   if (a.inputs.get("dimensions") or {}).get("FunctionName") == function}
        assert {"Errors", "Throttles"} <= metrics, function


def test_every_dead_letter_queue_has_an_alarm(dev: RecordingMocks) -> None:
    queues = dev.of_type("aws:sqs/queue:Queue")
    dead_letter_queues = {q.outputs["name"] for q in queues
                          if q.outputs["name"].endswith(("-dlq", "-failures", "-unrouted", "-undelivered"))}
    watched = {d.get("QueueName") for d in alarm_dimensions(dev)}
    settings = dev_settings()
    # A DLQ per lane and per route (the stack's config says how many), the report schedule's DLQ and
    # the report's failures, the unrouted queue and its DLQ, the status queue's DLQ and its rule's.
    expected = len(settings.lanes) + len(settings.routes) + 4 + (2 if settings.delivery_status else 0)
    assert len(dead_letter_queues) == expected
    assert dead_letter_queues <= watched


def test_work_queue_policies_accept_only_their_rules(dev: RecordingMocks) -> None:
    policies = dev.of_type("aws:sqs/queuePolicy:QueuePolicy")
    lane_policies = [p for p in policies if p.inputs["queueUrl"].endswith("-queue")]
    assert len(lane_policies) == 3  # the two lanes' and the status queue's
    for policy in lane_policies:
        [statement, deny] = json.loads(policy.inputs["policy"])["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"]


def test_stack_name_is_in_every_name_ses_keeps_per_account(dev: RecordingMocks) -> None:
    staging = run_stack("staging", config_from="dev")

    def ses_names(mocks: RecordingMocks) -> set[str]:
        templates = {t.inputs["name"] for t in mocks.of_type("aws:ses/template:Template")}
        config_sets = {c.inputs["configurationSetName"]
                       for c in mocks.of_type("aws:sesv2/configurationSet:ConfigurationSet")}
        return templates | config_sets

    templates = {f"email-pipeline-dev-{t.name}-{t.version}" for t in discover(ROOT / "templates")}
    assert ses_names(dev) == {"email-pipeline-dev", *templates}
    assert not ses_names(dev) & ses_names(staging)


def test_bad_config_stops_the_program_before_any_resource() -> None:
    with pytest.raises(SystemExit) as stopped:
        run_stack("dev", overrides={"laneShares": {"normal": 0.9, "priority": 0.4}, "alarmEmail": "ops"})
    message = str(stopped.value)
    assert "sum to 1.3" in message and "alarmEmail: 'ops'" in message


def test_a_route_added_in_config_appears_without_code_changes() -> None:
    mocks = run_stack("dev", overrides={"routes": [
        {"name": "order-receipts", "eventPattern": {"source": ["shop.orders"]}, "lane": "normal"}]})
    rules = {r.name for r in mocks.of_type("aws:cloudwatch/eventRule:EventRule")}
    assert any(name.endswith("order-receipts") for name in rules)


def test_program_imports_need_only_the_programs_requirements() -> None:
    """`pulumi up` runs with requirements.txt alone: no handler runtime dependency may leak in."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['structlog'] = None; sys.modules['boto3'] = None; "
            "import ses_email_pipeline; from ses_email_pipeline import stack_config")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_project_config_schema_uses_only_types_pulumi_accepts() -> None:
    """Pulumi's project schema (`configTypeDeclaration`) types config as string, integer, boolean or array."""
    import yaml

    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    for key, declaration in declared.items():
        if ":" in key:  # another namespace (a provider's): only a `value`, never a type or default
            assert set(declaration) == {"value"}, key
            continue
        assert set(declaration) <= {"type", "items", "description", "secret", "default"}, key
        assert declaration["type"] in {"string", "integer", "boolean", "array"}, key
        assert declaration.get("description"), key
        if declaration["type"] == "array":
            assert declaration["items"]["type"] in {"string", "integer", "boolean"}, key
        if "default" in declaration:
            python_type = {"string": str, "integer": int, "boolean": bool, "array": list}[declaration["type"]]
            assert isinstance(declaration["default"], python_type), key


def test_every_setting_the_program_reads_is_declared() -> None:
    import re

    import yaml

    from ses_email_pipeline.stack_config import STRUCTURED_SETTINGS

    read = set(re.findall(r'"(\w+)": config\.get', (ROOT / "__main__.py").read_text()))
    declared = {key for key in yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"] if ":" not in key}
    assert read == declared | set(STRUCTURED_SETTINGS)
    assert all(f"#   {key}:" in (ROOT / "Pulumi.yaml").read_text() for key in STRUCTURED_SETTINGS)


def test_dev_stack_reserves_no_concurrency_on_a_new_account(dev: RecordingMocks) -> None:
    functions = dev.of_type("aws:lambda/function:Function")
    assert all(f.inputs.get("reservedConcurrentExecutions") is None for f in functions)
    # AWS keeps 100 executions unreserved (PutFunctionConcurrency refuses more): so does the program.
    with pytest.raises(SystemExit, match="reservePriorityConcurrency: reserving 2 executions leaves fewer than the 100"):
        run_stack("dev", overrides={"reservePriorityConcurrency": True})
    reserving = run_stack("dev", overrides={"reservePriorityConcurrency": True, "accountConcurrency": 1000})
    reserved = {f.inputs["name"]: f.inputs.get("reservedConcurrentExecutions")
                for f in reserving.of_type("aws:lambda/function:Function")}
    assert reserved["email-pipeline-dev-priority"] == 2


def test_the_aws_provider_tags_every_resource_by_default() -> None:
    """Project-level provider config: every stack's default AWS provider tags what it creates."""
    import yaml

    config = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert config["aws:defaultTags"] == {"value": {"tags": {"project": "email-pipeline", "managed-by": "pulumi"}}}


def test_the_dev_stack_declares_the_recorded_resources(dev: RecordingMocks) -> None:
    """Refactors keep every URN: the same types and logical names as `dev_stack_resources.txt`."""
    change = snapshot.compare(snapshot.declared(dev), snapshot.recorded())
    assert not change, (
        f"the dev stack's resources differ from {snapshot.SNAPSHOT.name}: {change.summary()}. A template, route "
        f"or lane you added? Run `{snapshot.COMMAND}` and commit the file. A rename? It replaces the resource on "
        "every deployed stack: keep the old name with an alias instead")


def test_unknown_config_keys_stop_the_program_one_line_each_with_the_closest_key() -> None:
    """The Pulumi CLI passes an undeclared key of the project to the program without a word: the program refuses it."""
    with pytest.raises(SystemExit) as stopped:
        run_stack("dev", overrides={"acountSendRate": 14, "logRetentionDay": 7, "route": []})
    assert str(stopped.value).splitlines() == [
        "invalid stack config:",
        "  - email-pipeline:acountSendRate: no such setting; did you mean email-pipeline:accountSendRate?",
        "  - email-pipeline:logRetentionDay: no such setting; did you mean email-pipeline:logRetentionDays?",
        "  - email-pipeline:route: no such setting; did you mean email-pipeline:routes?"]


def test_a_typo_in_a_routes_pattern_is_one_line_not_a_traceback() -> None:
    """It used to reach EventRouterArgs and end the program with a traceback about detail fields."""
    typo = {"name": "order-shipped", "lane": "normal",
            "eventPattern": {"source": ["shop.orders"], "detail_type": ["Order Shipped"]}}
    with pytest.raises(SystemExit) as stopped:
        run_stack("dev", overrides={"routes": [typo]})
    assert str(stopped.value).splitlines()[1:] == [
        "  - routes[0] (order-shipped).eventPattern.detail_type: 'detail_type' is not a field of an EventBridge "
        "event, so the route would match nothing; did you mean detail-type?"]
