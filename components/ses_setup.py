"""The SES side of an EmailSender: its identity, templates, and a configuration set whose events are kept.

The configuration set publishes SES's events about every message to the default EventBridge bus
(the only bus SES publishes to); a rule there forwards the failures to a log group, without any
address, where they sit beside the send logs. Each builder declares its resources as children of
the component it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .template_files import TemplateFiles

#: What the configuration set publishes (botocore's sesv2 model, `EventType`): every event about a
#: message's fate, and SUBSCRIPTION for a recipient's unsubscribe from a topic send. OPEN and CLICK
#: need tracking links the pipeline does not add.
SES_EVENT_TYPES = ("SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "REJECT", "RENDERING_FAILURE", "DELIVERY_DELAY",
                   "SUBSCRIPTION")
#: What of an SES event reaches the feedback log group, for every kind: nothing that carries an
#: address (SES's `mail.destination`, `mail.headers`, `bounce.bouncedRecipients` and
#: `complaint.complainedRecipients` all do), only what ties the event to a send.
SES_FEEDBACK_FIELDS: Mapping[str, str] = {
    "eventType": "$.detail.eventType",
    "sesMessageId": "$.detail.mail.messageId",
    "sentAt": "$.detail.mail.timestamp",
    "lane": "$.detail.mail.tags.lane[0]",
    "template": "$.detail.mail.tags.template[0]",
    "stack": "$.detail.mail.tags.stack[0]",
    # The pipeline event that sent it (`handlers.shared.correlation`); never the producer's correlationId,
    # which is the producer's value, not the pipeline's.
    "eventId": "$.detail.mail.tags.event_id[0]",
}


@dataclass(frozen=True)
class FeedbackKind:
    """One kind of SES event kept in the feedback log group: its rule's name part and what it adds to the line."""

    label: str
    fields: Mapping[str, str]


#: SES events worth keeping beside the send logs (everything that means a message did not arrive),
#: each with the fields of its own part of the event (SES Developer Guide, "Contents of event data
#: that Amazon SES publishes": `bounce`, `complaint`, `reject`, `failure`). One rule per kind, so a
#: line holds only what its kind has: EventBridge leaves out a variable whose path the event lacks
#: ("that variable isn't created and won't appear in the output", EventBridge User Guide, "Input
#: transformation", common issues), which in a quoted placeholder renders as an empty string; one
#: template for every kind would give each bounce an empty `complaintFeedbackType`. A complaint's own
#: `complaintFeedbackType` is optional (the feedback report may have none): it is then empty.
SES_FEEDBACK_KINDS: Mapping[str, FeedbackKind] = {
    "Email Bounced": FeedbackKind("bounce", {"bounceType": "$.detail.bounce.bounceType",
                                             "bounceSubType": "$.detail.bounce.bounceSubType"}),
    "Email Complaint Received": FeedbackKind(
        "complaint", {"complaintFeedbackType": "$.detail.complaint.complaintFeedbackType"}),
    "Email Rejected": FeedbackKind("reject", {"rejectReason": "$.detail.reject.reason"}),
    # The template's name only: SES's `errorMessage` quotes the variable, and EventBridge does not
    # escape what it substitutes, so a quote there would break the line's JSON.
    "Email Rendering Failed": FeedbackKind("render", {"templateName": "$.detail.failure.templateName"}),
}
FORWARDED_SES_DETAIL_TYPES = tuple(SES_FEEDBACK_KINDS)


def email_identity(name: str, identity: str, *, tags: Mapping[str, str],
                   parent: pulumi.Resource) -> aws.sesv2.EmailIdentity:
    """The identity mail is sent as: a domain signed with Easy DKIM (2048-bit keys), or one address."""
    is_domain = "@" not in identity
    return aws.sesv2.EmailIdentity(
        f"{name}-identity",
        email_identity=identity,
        dkim_signing_attributes={"next_signing_key_length": "RSA_2048_BIT"} if is_domain else None,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def configuration_set(
    name: str, *, default_bus_arn: pulumi.Input[str], log_retention_days: int, tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> aws.sesv2.ConfigurationSet:
    """The configuration set `name`: reputation metrics, TLS required, bounces and complaints suppressed.

    It publishes every event type to the default bus, and its failures are forwarded to a log
    group (`forward_ses_failures`).
    """
    config_set = aws.sesv2.ConfigurationSet(
        f"{name}-config-set",
        configuration_set_name=name,
        reputation_options={"reputation_metrics_enabled": True},
        delivery_options={"tls_policy": "REQUIRE"},
        suppression_options={"suppressed_reasons": ["BOUNCE", "COMPLAINT"]},
        sending_options={"sending_enabled": True},
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    aws.sesv2.ConfigurationSetEventDestination(
        f"{name}-ses-events",
        configuration_set_name=config_set.configuration_set_name,
        event_destination_name="eventbridge",
        event_destination={
            "enabled": True,
            "matching_event_types": list(SES_EVENT_TYPES),
            "event_bridge_destination": {"event_bus_arn": default_bus_arn},
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )
    forward_ses_failures(name, config_set, log_retention_days=log_retention_days, tags=tags, parent=parent)
    return config_set


def forward_ses_failures(name: str, config_set: aws.sesv2.ConfigurationSet, *, log_retention_days: int,
                         tags: Mapping[str, str], parent: pulumi.Resource) -> None:
    """Keep SES's bounce, complaint, reject and rendering-failure events, queryable by message id: a rule per kind."""
    child = pulumi.ResourceOptions(parent=parent)
    # Declared, so it has the stack's retention (not "never expire").
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-ses-feedback-logs", name=f"/aws/events/{name}-ses-feedback", retention_in_days=log_retention_days,
        tags=dict(tags), opts=child,
    )
    rules = {
        detail_type: aws.cloudwatch.EventRule(
            f"{name}-ses-{kind.label}",
            description=f"SES's {detail_type} events of this stack, to its feedback log group",
            event_pattern=pulumi.Output.json_dumps({
                "source": ["aws.ses"],
                "detail-type": [detail_type],
                "detail": {"mail": {"tags": {"ses:configuration-set": [config_set.configuration_set_name]}}},
            }),
            tags=dict(tags),
            opts=_was_the_one_rule(kind, child, f"{name}-ses-feedback"),
        )
        for detail_type, kind in SES_FEEDBACK_KINDS.items()
    }
    # Only PutLogEvents carries the rule as its source: EventBridge creates the log stream
    # without it, so a condition on CreateLogStream refuses every delivery. AWS's own
    # EventBridge-to-CloudWatch-Logs pattern was fixed the same way (aws-samples/serverless-
    # patterns#618); it cannot be tried offline.
    streams = pulumi.Output.concat(log_group.arn, ":*")
    principal = {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]}
    aws.cloudwatch.LogResourcePolicy(
        f"{name}-ses-feedback-policy",
        policy_name=f"{name}-ses-feedback",
        policy_document=pulumi.Output.json_dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "CreateStreams", "Effect": "Allow", "Principal": principal,
                 "Action": "logs:CreateLogStream", "Resource": streams},
                {"Sid": "PutEventsOfTheRules", "Effect": "Allow", "Principal": principal,
                 "Action": "logs:PutLogEvents", "Resource": streams,
                 "Condition": {"ArnEquals": {"aws:SourceArn": [rule.arn for rule in rules.values()]}}},
            ],
        }),
        opts=child,
    )
    for detail_type, rule in rules.items():
        kind = SES_FEEDBACK_KINDS[detail_type]
        fields = {**SES_FEEDBACK_FIELDS, **kind.fields}
        aws.cloudwatch.EventTarget(
            f"{name}-ses-{kind.label}-target", rule=rule.name, arn=log_group.arn,
            input_transformer={"input_paths": {**fields, "time": "$.time"},
                               "input_template": ses_feedback_template(fields)},
            opts=_was_the_one_rule(kind, child, f"{name}-ses-feedback-target"))


def _was_the_one_rule(kind: FeedbackKind, options: pulumi.ResourceOptions, old_name: str) -> pulumi.ResourceOptions:
    """Bounces take over the rule (and target) that once forwarded every kind: updated in place, not replaced."""
    if kind.label != "bounce":
        return options
    return pulumi.ResourceOptions.merge(options, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old_name)]))


def ses_feedback_template(fields: Mapping[str, str]) -> str:
    """The input template writing one SES event as a JSON log line of `fields` only.

    EventBridge requires `{"timestamp": ..., "message": ...}` of an input transformer whose target
    is a log group (EventBridge User Guide, "Targets": CloudWatch Logs); the message is itself
    JSON, so Logs Insights discovers its fields. Every placeholder is quoted, so one whose path an
    event lacks renders empty and the line stays JSON. Not verifiable offline: moto applies the
    template but does not check its form.
    """
    message = ",".join(f'\\"{name}\\":\\"<{name}>\\"' for name in fields)
    return '{"timestamp":"<time>","message":"{' + message + '}"}'


def templates(name: str, template_files: Sequence[TemplateFiles], *,
              parent: pulumi.Resource) -> dict[str, aws.ses.Template]:
    """One SES template per version folder, by deployed name (stack-prefixed, so stacks never collide)."""
    return {
        template.deployed_name(name): aws.ses.Template(
            f"{name}-template-{template.name}-{template.version}",
            name=template.deployed_name(name),
            subject=template.subject,
            html=template.html,
            text=template.text,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for template in template_files
    }
