"""EmailSender on its own, under Pulumi's mocks: lanes, functions, IAM, packaging."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ses_email_pipeline import ses_setup
from ses_email_pipeline.email_sender import EmailSender
from ses_email_pipeline.lanes import BATCH_OVERHEAD_SECONDS, DEFAULT_LANES, idempotency_ttl, lane_max_concurrency
from ses_email_pipeline.sender_args import EmailSenderArgs
from ses_email_pipeline.packaging import HANDLER_ZIP_BUDGET_KB, LAYER_ZIP_BUDGET_MB
from ses_email_pipeline.handlers.shared.timeouts import ready_seconds
from ses_email_pipeline.template_files import discover
from local.mocks import RecordingMocks, run_program

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def declared() -> RecordingMocks:
    args = EmailSenderArgs(sender="Acme <no-reply@mail.example.com>", identity="mail.example.com",
                           recipient_hash_key="k", account_send_rate=14, report_recipients=["r@example.com"],
                           templates_dir=str(ROOT / "templates"), handlers_dir=str(ROOT / "handlers"),
                           build_dir=str(ROOT / "build"))
    return run_program(lambda: EmailSender("email-test", args))


def policy_statements(mocks: RecordingMocks) -> dict[str, list[dict[str, Any]]]:
    """Every role policy's statements: the functions' and the report scheduler's."""
    return {r.name: json.loads(r.outputs["policy"])["Statement"] for r in mocks.of_type("aws:iam/rolePolicy:RolePolicy")}


def function_policy_statements(mocks: RecordingMocks) -> dict[str, list[dict[str, Any]]]:
    """The statements of each function's role (`<function>-policy`)."""
    functions = {f.name for f in mocks.of_type("aws:lambda/function:Function")}
    statements = {name: found for name, found in policy_statements(mocks).items()
                  if name.removesuffix("-policy") in functions}
    assert len(statements) == len(functions)
    return statements


def test_every_work_queue_has_a_dlq_and_every_queue_is_encrypted(declared: RecordingMocks) -> None:
    queues = declared.of_type("aws:sqs/queue:Queue")
    assert all(q.inputs.get("sqsManagedSseEnabled") or q.inputs.get("kmsMasterKeyId") for q in queues)
    work = [q for q in queues if q.name.endswith("-queue")]
    assert {q.name for q in work} == {"email-test-normal-queue", "email-test-priority-queue"}
    dlq_arns = {q.outputs["arn"] for q in queues if q.name.endswith("-dlq")}
    for queue in work:
        redrive = json.loads(queue.inputs["redrivePolicy"])
        assert redrive["deadLetterTargetArn"] in dlq_arns
        dlq = next(q for q in queues if q.outputs["arn"] == redrive["deadLetterTargetArn"])
        assert dlq.inputs["messageRetentionSeconds"] > queue.inputs["messageRetentionSeconds"]


def test_visibility_timeout_is_six_times_the_consuming_functions_timeout(declared: RecordingMocks) -> None:
    functions = {f.outputs["arn"]: f for f in declared.of_type("aws:lambda/function:Function")}
    queues = {q.outputs["arn"]: q for q in declared.of_type("aws:sqs/queue:Queue")}
    mappings = declared.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
    assert len(mappings) == 2
    for mapping in mappings:
        function = functions[mapping.inputs["functionName"]]
        queue = queues[mapping.inputs["eventSourceArn"]]
        assert queue.inputs["visibilityTimeoutSeconds"] >= 6 * function.inputs["timeout"]
        assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping.inputs["scalingConfig"]["maximumConcurrency"] >= 2


def test_no_iam_statement_has_a_wildcard_action(declared: RecordingMocks) -> None:
    for statements in policy_statements(declared).values():
        for statement in statements:
            assert all("*" not in action for action in statement["Action"]), statement


def test_wildcard_resources_only_for_actions_without_resource_level_permissions(declared: RecordingMocks) -> None:
    allowed = {"ses:GetAccount", "cloudwatch:GetMetricData", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    for statements in policy_statements(declared).values():
        for statement in statements:
            if "*" in statement["Resource"]:
                assert set(statement["Action"]) <= allowed, statement


def test_every_ses_statement_names_the_identity_and_configuration_set(declared: RecordingMocks) -> None:
    identity = declared.of_type("aws:sesv2/emailIdentity:EmailIdentity")[0].outputs["arn"]
    config_set = declared.of_type("aws:sesv2/configurationSet:ConfigurationSet")[0].outputs["arn"]
    send_statements = [s for statements in function_policy_statements(declared).values() for s in statements
                       if "ses:SendEmail" in s["Action"]]
    assert len(send_statements) == 3  # one per function
    for statement in send_statements:
        assert identity in statement["Resource"] and config_set in statement["Resource"]
        assert all(r.startswith("arn:aws:ses:") for r in statement["Resource"])


def test_every_function_logs_json_to_its_own_log_group_with_retention(declared: RecordingMocks) -> None:
    groups = {g.inputs["name"]: g for g in declared.of_type("aws:cloudwatch/logGroup:LogGroup")}
    functions = declared.of_type("aws:lambda/function:Function")
    assert len(functions) == 3
    for function in functions:
        logging_config = function.inputs["loggingConfig"]
        assert logging_config["logFormat"] == "JSON"
        assert groups[logging_config["logGroup"]].inputs["retentionInDays"] == 30
        assert function.inputs["runtime"] == "python3.12" and function.inputs["architectures"] == ["arm64"]
        assert function.inputs["tracingConfig"] == {"mode": "PassThrough"}  # traced when producers trace


def test_priority_lane_has_reserved_concurrency(declared: RecordingMocks) -> None:
    reserved = {f.name: f.inputs.get("reservedConcurrentExecutions")
                for f in declared.of_type("aws:lambda/function:Function")}
    assert reserved["email-test-priority"] == 2 and reserved["email-test-normal"] is None


def test_ses_names_carry_the_stack_prefix(declared: RecordingMocks) -> None:
    """One SES template per version folder under templates/, whatever folders an author adds."""
    names = {t.inputs["name"] for t in declared.of_type("aws:ses/template:Template")}
    assert names == {f"email-test-{t.name}-{t.version}" for t in discover(ROOT / "templates")}
    config_set = declared.of_type("aws:sesv2/configurationSet:ConfigurationSet")[0].inputs
    assert config_set["configurationSetName"] == "email-test"
    assert config_set["deliveryOptions"] == {"tlsPolicy": "REQUIRE"}
    assert config_set["suppressionOptions"] == {"suppressedReasons": ["BOUNCE", "COMPLAINT"]}


def test_the_state_table_is_on_demand_encrypted_with_ttl_and_pitr(declared: RecordingMocks) -> None:
    [table] = declared.of_type("aws:dynamodb/table:Table")
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert table.inputs["ttl"] == {"attributeName": "expiration", "enabled": True}
    assert table.inputs["serverSideEncryption"]["enabled"] and table.inputs["pointInTimeRecovery"]["enabled"]


def test_concurrency_and_ttl_are_derived_from_their_reasons() -> None:
    normal, alerts = DEFAULT_LANES
    assert lane_max_concurrency(1, normal, 0.1) == 2  # the SQS minimum
    # Batches of 10 sent in parallel: 200/s needs 1 + 200 x (0.1 s + overhead + 10 emails' CPU at
    # 256 MB's share of a vCPU) / 10 instances.
    assert lane_max_concurrency(200, normal, 0.1) == 1 + math.ceil(
        200 * (0.1 + BATCH_OVERHEAD_SECONDS + ready_seconds(10, 256)) / 10)
    assert lane_max_concurrency(200, normal, 0.1, memory_mb=1769) < lane_max_concurrency(200, normal, 0.1)
    # A reuser's larger function is sized with its own CPU share.
    base = dict(sender="a@example.com", identity="example.com", recipient_hash_key="k")
    assert EmailSenderArgs(**base, account_send_rate=200, memory_mb=1769).lane_concurrency(normal) \
        < EmailSenderArgs(**base, account_send_rate=200).lane_concurrency(normal)
    assert lane_max_concurrency(200, alerts, 0.1) > lane_max_concurrency(200, normal, 0.1)  # batches of 5
    assert lane_max_concurrency(200, normal, 0.3) > lane_max_concurrency(200, normal, 0.1)  # slower SES
    assert idempotency_ttl(60, 8, 0) == 8 * 900 + 86_400  # the handlers' 15-min delay beats 360 s visibility
    assert idempotency_ttl(60, 8, 30) == 31 * 86_400  # the archive's replay window is longer


def test_archives_are_deterministic(declared: RecordingMocks) -> None:
    again = run_program(lambda: EmailSender("email-test", EmailSenderArgs(
        sender="a@mail.example.com", identity="mail.example.com", recipient_hash_key="k",
        templates_dir=str(ROOT / "templates"), handlers_dir=str(ROOT / "handlers"), build_dir=str(ROOT / "build"))))
    hashes = lambda mocks: sorted(r.inputs["sourceCodeHash"] for r in mocks.resources if "sourceCodeHash" in r.inputs)
    assert hashes(declared) == hashes(again)


def test_declared_archives_import_in_a_clean_interpreter(declared: RecordingMocks, tmp_path: Path) -> None:
    """Unpack the exact archive each function declares; import its handler with only the runtime's boto3:
    the handlers need no layer, and none is declared."""
    assert declared.of_type("aws:lambda/layerVersion:LayerVersion") == []
    import boto3, botocore  # noqa: E401
    boto_paths = {str(Path(boto3.__file__).parents[1]), str(Path(botocore.__file__).parents[1])}
    clean = tmp_path / "site"
    clean.mkdir()
    for package in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"):
        source = Path(next(iter(boto_paths))) / package
        if source.exists():
            (clean / package).symlink_to(source)
    for function in declared.of_type("aws:lambda/function:Function"):
        code_zip, module = Path(function.inputs["code"].path), function.inputs["handler"].rsplit(".", 1)[0]
        names = zipfile.ZipFile(code_zip).namelist()
        assert all(n.startswith("handlers/") for n in names)
        assert not any("tests/" in n or n.endswith("requirements.txt") for n in names)
        assert code_zip.stat().st_size < HANDLER_ZIP_BUDGET_KB * 1024
        task = tmp_path / function.name
        zipfile.ZipFile(code_zip).extractall(task)
        assert function.inputs.get("layers") is None, function.name
        env = {"PYTHONPATH": f"{task}:{clean}", "AWS_DEFAULT_REGION": "eu-west-1",
               "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "PATH": "/usr/bin:/bin"}
        # From an empty directory: `-c` puts the working directory first on the path.
        result = subprocess.run([sys.executable, "-S", "-c", f"import {module}"], env=env, capture_output=True,
                                text=True, cwd=clean)
        assert result.returncode == 0, f"{function.name}: {result.stderr}"


def test_a_dependency_the_handlers_list_ships_as_a_layer_every_function_gets(tmp_path: Path) -> None:
    """A reuser whose handlers need a third-party package lists it in `handlers/requirements.txt`."""
    handlers = tmp_path / "handlers"
    shutil.copytree(ROOT / "handlers", handlers, ignore=shutil.ignore_patterns("__pycache__"))
    (handlers / "requirements.txt").write_text("# what our handlers import beyond botocore\njmespath==1.0.1\n")
    mocks = run_program(lambda: EmailSender("email-test", EmailSenderArgs(
        sender="a@mail.example.com", identity="mail.example.com", recipient_hash_key="k",
        templates_dir=str(ROOT / "templates"), handlers_dir=str(handlers), build_dir=str(tmp_path / "build"))))
    [layer] = mocks.of_type("aws:lambda/layerVersion:LayerVersion")
    layer_zip = Path(layer.inputs["code"].path)
    assert layer_zip.stat().st_size < LAYER_ZIP_BUDGET_MB * 1024 * 1024
    assert any(name.startswith("python/jmespath/") for name in zipfile.ZipFile(layer_zip).namelist())
    functions = mocks.of_type("aws:lambda/function:Function")
    assert functions and all(f.inputs["layers"] == [layer.outputs["arn"]] for f in functions)


def test_each_function_ships_only_what_its_handler_imports(declared: RecordingMocks) -> None:
    shipped = {function.name: zipfile.ZipFile(function.inputs["code"].path).namelist()
               for function in declared.of_type("aws:lambda/function:Function")}
    assert "handlers/sending/lane.py" in shipped["email-test-normal"]
    assert not any("delivery_status/" in name or name.endswith(("report.py", "priority.py"))
                   for name in shipped["email-test-normal"])
    assert "handlers/priority.py" in shipped["email-test-priority"]
    assert "handlers/templated.py" not in shipped["email-test-priority"]
    assert not any("scheduling/" in name for name in shipped["email-test-report"])


# --- what a real account would refuse (issue: deploys and sends on a real AWS account) ------------


def sender_args(**changes: Any) -> EmailSenderArgs:
    base: dict[str, Any] = dict(sender="Acme <no-reply@mail.example.com>", identity="mail.example.com",
                                recipient_hash_key="k", templates_dir=str(ROOT / "templates"),
                                handlers_dir=str(ROOT / "handlers"), build_dir=str(ROOT / "build"))
    return EmailSenderArgs(**{**base, **changes})


def send_resources(mocks: RecordingMocks) -> dict[str, list[str]]:
    """Per function policy, the resources of its ses:SendEmail statement."""
    return {name: next(s["Resource"] for s in statements if s["Action"] == ["ses:SendEmail"])
            for name, statements in function_policy_statements(mocks).items()}


def test_a_sandbox_stack_may_send_to_its_allowlisted_and_report_recipients_identities() -> None:
    mocks = run_program(lambda: EmailSender("email-test", sender_args(
        recipient_allowlist=["@example.com", "ops@other.org"], report_recipients=["boss@corp.net"])))
    prefix = "arn:aws:ses:eu-west-1:123456789012:identity/"
    for resources in send_resources(mocks).values():
        assert {prefix + "example.com", prefix + "ops@other.org", prefix + "boss@corp.net"} <= set(resources)


def test_a_production_stack_grants_no_recipient_identities(declared: RecordingMocks) -> None:
    for resources in send_resources(declared).values():
        identities = [r for r in resources if ":identity/" in r]
        assert identities == ["arn:aws:ses:eu-west-1:123456789012:identity/mail.example.com"]


def feedback_rules(mocks: RecordingMocks) -> dict[str, Any]:
    """The default-bus rules that forward SES's failures to the feedback log group, by detail-type."""
    rules = {}
    for rule in mocks.of_type("aws:cloudwatch/eventRule:EventRule"):
        pattern = json.loads(rule.inputs["eventPattern"])
        if pattern.get("source") == ["aws.ses"] and rule.name.startswith("email-test-ses-"):
            [detail_type] = pattern["detail-type"]
            rules[detail_type] = rule
    return rules


def test_the_feedback_log_policy_conditions_only_put_log_events_on_the_rules(declared: RecordingMocks) -> None:
    [policy] = declared.of_type("aws:cloudwatch/logResourcePolicy:LogResourcePolicy")
    statements = {s["Action"]: s for s in json.loads(policy.inputs["policyDocument"])["Statement"]}
    assert "Condition" not in statements["logs:CreateLogStream"]
    arns = sorted(rule.outputs["arn"] for rule in feedback_rules(declared).values())
    assert sorted(statements["logs:PutLogEvents"]["Condition"]["ArnEquals"]["aws:SourceArn"]) == arns


def test_each_kind_of_ses_failure_logs_only_its_own_fields(declared: RecordingMocks) -> None:
    """A path an event lacks renders empty on AWS: a bounce's line must not hold a complaint's field."""
    rules = feedback_rules(declared)
    assert set(rules) == set(ses_setup.FORWARDED_SES_DETAIL_TYPES)
    targets = {t.inputs["rule"]: t for t in declared.of_type("aws:cloudwatch/eventTarget:EventTarget")}
    for detail_type, rule in rules.items():
        transformer = targets[rule.outputs["name"]].inputs["inputTransformer"]
        own = ses_setup.SES_FEEDBACK_KINDS[detail_type].fields
        assert transformer["inputPaths"] == {**ses_setup.SES_FEEDBACK_FIELDS, **own, "time": "$.time"}
        part = "$.detail." + {"Email Bounced": "bounce", "Email Complaint Received": "complaint",
                              "Email Rejected": "reject", "Email Rendering Failed": "failure"}[detail_type] + "."
        assert all(path.startswith(part) for path in own.values())
        template = transformer["inputTemplate"]
        placeholders = re.findall(r"<([^>]+)>", template)
        assert set(placeholders) == set(transformer["inputPaths"])
        unescaped = template.replace('\\"', '"')
        assert all(f'"<{name}>"' in unescaped for name in placeholders)  # quoted: an absent one renders ""


def test_arns_it_builds_follow_the_partition() -> None:
    mocks = run_program(lambda: EmailSender("email-test", sender_args(recipient_allowlist=["@example.cn"])),
                        mocks=RecordingMocks(partition="aws-cn"))
    [destination] = mocks.of_type("aws:sesv2/configurationSetEventDestination:ConfigurationSetEventDestination")
    bus = destination.inputs["eventDestination"]["eventBridgeDestination"]["eventBusArn"]
    assert bus.startswith("arn:aws-cn:events:")
    assert any(r.startswith("arn:aws-cn:ses:") for rs in send_resources(mocks).values() for r in rs)


def test_the_state_table_cannot_be_deleted_by_accident(declared: RecordingMocks) -> None:
    [table] = declared.of_type("aws:dynamodb/table:Table")
    assert table.inputs["deletionProtectionEnabled"] is True


def test_mappings_and_async_config_wait_for_the_role_policy_lambda_checks_at_creation() -> None:
    waits: dict[str, list[str]] = {}

    def record(args: Any) -> None:
        waits[args.name] = [getattr(d, "_name", "") for d in (args.opts.depends_on or [])]

    def program() -> None:
        import pulumi

        EmailSender("email-test", sender_args(), pulumi.ResourceOptions(transformations=[record]))

    run_program(program)
    for resource, function in (("email-test-normal-source", "normal"), ("email-test-priority-source", "priority"),
                               ("email-test-report-async", "report")):
        assert f"email-test-{function}-policy" in waits[resource], waits[resource]


@pytest.mark.parametrize("stack", ["transactional-mail-pipeline-production-euw1"])  # 43: roles overflow
def test_a_name_too_long_for_aws_is_refused_before_anything_is_declared(stack: str) -> None:
    errors: list[ValueError] = []

    def program() -> None:
        try:
            EmailSender(stack, sender_args())
        except ValueError as exc:
            errors.append(exc)

    mocks = run_program(program)
    [error] = errors
    assert "more than the" in str(error) and repr(stack) in str(error)
    assert mocks.resources == []


def test_only_the_priority_lane_books_ahead_of_the_horizon(declared: RecordingMocks) -> None:
    urgent = {f.name: f.inputs["environment"]["variables"].get("EMAIL_LANE_URGENT")
              for f in declared.of_type("aws:lambda/function:Function")}
    assert urgent == {"email-test-normal": "false", "email-test-priority": "true", "email-test-report": None}


def test_lanes_that_outgrow_the_accounts_concurrency_are_refused_with_the_fix() -> None:
    from ses_email_pipeline.checks import InvalidArgs

    with pytest.raises(InvalidArgs) as caught:
        sender_args(account_send_rate=2000, account_concurrency=50, reserve_concurrency=False)
    [problem] = caught.value.problems
    assert problem.field == "account_concurrency" and "request a higher Lambda concurrency quota" in str(problem)
    assert sender_args(account_send_rate=2000, account_concurrency=1000).lane_concurrency(DEFAULT_LANES[0]) > 2


@pytest.mark.parametrize("mode", ["active", "Off"])
def test_an_unknown_tracing_mode_is_refused(mode: str) -> None:
    from ses_email_pipeline.checks import InvalidArgs

    with pytest.raises(InvalidArgs, match="tracing"):
        sender_args(tracing=mode)


def test_a_template_ses_would_refuse_stops_the_preview_with_its_file_line_and_fix(tmp_path: Path) -> None:
    """What `email-pipeline templates check` reports as an error, `pulumi preview` refuses too."""
    import shutil

    from ses_email_pipeline.checks import InvalidArgs

    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    broken = templates / "order-shipped" / "v1"
    broken.mkdir(parents=True)
    (broken / "subject.txt").write_text("Order {{orderId}}")
    (broken / "body.html").write_text("<ul>{{#each items}}<li>{{name}}</li>{{/if}}</ul>")
    (broken / "body.txt").write_text("{{#iff gift}}A gift{{/iff}}")
    with pytest.raises(InvalidArgs) as refused:
        sender_args(templates_dir=str(templates))
    assert [str(problem) for problem in refused.value.problems] == [
        "templates_dir: templates/order-shipped/v1/body.html:1:37: error: {{/if}} closes {{#each}} (opened at line 1, "
        "column 5): close it with {{/each}}",
        "templates_dir: templates/order-shipped/v1/body.txt:1:1: error: SES has no block helper `iff`: did you mean "
        "`if`? SES templates have Handlebars' built-in helpers only (each, if, log, lookup, unless, with); compute the "
        "value in the event's templateData instead",
    ]
