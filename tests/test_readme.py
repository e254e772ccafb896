"""Every command and example in README.md is checked: make targets, CLIs, AWS calls, config, code."""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from pathlib import Path

import botocore.session
import pytest
import yaml

from ses_email_pipeline.handlers.sending.contract import parse_event
from local.__main__ import build_parser
from ses_email_pipeline.stack_config import STRUCTURED_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, flags=re.M | re.S)
#: Pulumi CLI commands the README may use, with the flags each accepts (the CLI cannot run here).
PULUMI = {
    "login": {"--local"}, "stack init": set(), "stack output": {"--json", "--stack", "--show-secrets"},
    "destroy": {"--stack", "--yes"},
    "config set": {"--secret", "--stack", "--path"}, "preview": {"--policy-pack", "--stack"},
    "up": {"--policy-pack", "--stack", "--yes"}, "package add": set(),
}
AWS_GLOBAL_OPTIONS = {"--endpoint-url", "--region", "--output", "--query", "--profile"}


def shell_commands() -> list[list[str]]:
    commands = []
    for language, body in BLOCKS:
        if language != "sh":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line:
                line = re.sub(r"<[^>]+>", "PLACEHOLDER", line).replace("$(", "(")
                commands.append(shlex.split(line))
    return commands


def test_readme_has_commands_to_check() -> None:
    assert len(shell_commands()) >= 15


def test_every_image_the_readme_shows_is_in_the_repository() -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert "docs/console.png" in images
    assert all((ROOT / image).is_file() for image in images), images


def test_running_it_locally_leads_with_the_console() -> None:
    """The console first (its screenshot, then `make console`), then the demo; `make console` runs a real target."""
    section = README.split("## Running it locally", 1)[1].split("\n## ", 1)[0]
    assert section.lstrip().startswith("![") and "docs/console.png" in section.split("\n\n", 2)[1]
    assert section.index("make console") < section.index("make demo")
    assert re.search(r"^console: ", (ROOT / "Makefile").read_text(), flags=re.M)


@pytest.mark.parametrize("words", shell_commands(), ids=lambda words: " ".join(words)[:60])
def test_shell_command_is_valid(words: list[str]) -> None:
    while "=" in words[0]:  # leading VAR=value assignments
        words = words[1:]
    program = words[0]
    if program == "make":
        targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))
        assert words[1] in targets
    elif program.endswith("python") and words[1:3] == ["-m", "local"]:
        build_parser().parse_args(words[3:])
    elif program.endswith("python") and words[1:3] == ["-m", "handlers.log"]:
        assert (ROOT / "handlers" / "log.py").exists()
    elif program == "pulumi":
        check_pulumi(words[1:])
    elif program == "aws":
        check_aws(words[1:])
    elif program == "email-pipeline":
        from ses_email_pipeline.cli.__main__ import build_parser as operator_parser

        operator_parser().parse_args(words[1:])
    elif program == "pip":
        assert words[1] == "install"
    else:
        pytest.fail(f"README command {program!r} is not checked by this test; teach it")


def check_pulumi(args: list[str]) -> None:
    command = next((c for c in PULUMI if args[: len(c.split())] == c.split()), None)
    assert command, f"unknown pulumi command: {args}"
    flags = {a.split("=")[0] for a in args if a.startswith("--")}
    assert flags <= PULUMI[command], flags - PULUMI[command]


def check_aws(args: list[str]) -> None:
    options, positional, rest = [], [], list(args)
    while rest:
        word = rest.pop(0)
        if word in AWS_GLOBAL_OPTIONS:
            rest.pop(0)  # its value
        elif word.startswith("--"):
            options.append(word)
        elif len(positional) < 2:
            positional.append(word)
    service, operation = positional
    model = botocore.session.get_session().get_service_model(service)
    names = {re.sub(r"(?<!^)(?=[A-Z])", "-", op).lower(): op for op in model.operation_names}
    assert operation in names, f"aws {service} has no {operation}"
    members = model.operation_model(names[operation]).input_shape.members
    kebab = {re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", m).lower() for m in members}
    for option in options:
        name = option.removeprefix("--").removeprefix("no-")
        assert option in AWS_GLOBAL_OPTIONS or name in kebab, f"aws {service} {operation}: unknown {option}"


def test_yaml_examples_parse_and_use_declared_settings() -> None:
    declared = set(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]) | set(STRUCTURED_SETTINGS)
    for language, body in BLOCKS:
        if language == "yaml":
            document = yaml.safe_load(textwrap.dedent(body))
            for key in document:
                if key.startswith("email-pipeline:"):
                    assert key.split(":", 1)[1] in declared, key


def test_python_examples_compile() -> None:
    for language, body in BLOCKS:
        if language == "python":
            compile(body, "README.md", "exec")


def test_the_event_contract_example_is_a_valid_event() -> None:
    [example] = [json.loads(body) for language, body in BLOCKS if language == "json" and "emailConfig" in body]
    request = parse_event(json.dumps({**example, "id": "readme-example"}))
    assert request.cc and request.bcc and request.reply_to and request.template and request.tags


def test_the_first_deploys_event_names_the_dev_stacks_bus() -> None:
    """`samples/first-event.json` is put on the deployed dev stack's bus (`pulumi stack output busName`)."""
    from local.program import run_stack

    [bus] = run_stack("dev").of_type("aws:cloudwatch/eventBus:EventBus")
    [entry] = json.loads((ROOT / "samples" / "first-event.json").read_text())
    assert entry["EventBusName"] == bus.outputs["name"]
    assert "file://samples/first-event.json" in README


@pytest.mark.parametrize("stack", ["dev"])
def test_every_config_example_works_on_the_stacks_it_is_for(stack: str) -> None:
    """Each README yaml example, added to the stack's own config, parses (the program accepts it)."""
    from local.program import stack_config
    from ses_email_pipeline.stack_config import parse

    examples = [yaml.safe_load(textwrap.dedent(body)) for language, body in BLOCKS if language == "yaml"]
    examples = [e for e in examples if any(str(key).startswith("email-pipeline:") for key in e)]
    assert examples
    base = {key.split(":", 1)[1]: value for key, value in stack_config(stack).items() if key.startswith("email-pipeline:")}
    # Each webhook's secret, as the README's `pulumi config set --secret --path 'webhookSecrets.<name>'` sets it.
    secrets = re.findall(r"webhookSecrets\.([a-z0-9-]+)", README)
    for example in examples:
        changes = {key.split(":", 1)[1]: value for key, value in example.items()}
        parse({**base, **changes}, recipient_hash_key="k", webhook_secret_names=secrets if "webhooks" in changes else ())


def test_every_stack_the_readme_runs_has_its_stack_file() -> None:
    """`--stack staging` once stood here with no Pulumi.staging.yaml: the local run refuses such a name."""
    stacks = [words[words.index("--stack") + 1] for words in shell_commands() if "--stack" in words]
    stacks += [word.split("=", 1)[1] for words in shell_commands() for word in words if word.startswith("STACK=")]
    assert stacks
    for stack in stacks:
        assert (ROOT / f"Pulumi.{stack}.yaml").exists(), stack


def test_the_status_subscription_example_grants_eventbridge_its_queue_for_that_rule_only() -> None:
    """On AWS, EventBridge delivers to a queue only if the queue's policy lets it (the program's lanes have one)."""
    from local.program import run_stack

    commands = {" ".join(words[1:3]): words for words in shell_commands() if words[:1] == ["aws"]}
    rule, target = commands["events put-rule"], commands["events put-targets"]
    assert commands["sqs set-queue-attributes"][-1] == "file://queue-policy.json"
    [attributes] = [json.loads(body) for language, body in BLOCKS if language == "json" and '"Policy"' in body]
    [statement] = json.loads(attributes["Policy"])["Statement"]
    name, bus = rule[rule.index("--name") + 1], rule[rule.index("--event-bus-name") + 1]
    queue_arn = dict(part.split("=", 1) for part in target[target.index("--targets") + 1].split(","))["Arn"]
    region, account = queue_arn.split(":")[3:5]
    assert target[target.index("--rule") + 1] == name and target[target.index("--event-bus-name") + 1] == bus
    assert statement["Resource"] == queue_arn
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": f"arn:aws:events:{region}:{account}:rule/{bus}/{name}"}}
    # The same grant the program gives EventBridge on its own lanes' queues.
    lane_policy = next(p for p in run_stack("dev").of_type("aws:sqs/queuePolicy:QueuePolicy")
                       if p.inputs["queueUrl"].endswith("-normal-queue"))
    [program, _deny] = json.loads(lane_policy.inputs["policy"])["Statement"]
    assert {key: statement[key] for key in ("Effect", "Principal", "Action")} == {
        key: program[key] for key in ("Effect", "Principal", "Action")}
    assert set(statement["Condition"]) == set(program["Condition"])
    [dev_bus] = run_stack("dev").of_type("aws:cloudwatch/eventBus:EventBus")
    assert bus == dev_bus.outputs["name"]
