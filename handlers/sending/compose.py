"""Build the outgoing email for a request: template, data, recipients and headers.

Both SQS lanes send with SES templates, so the template choice, the data check and the
recipient allowlist live here once; each handler adds only what makes its lane different.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..shared import correlation, hashing
from .contract import MAX_RECIPIENTS, EmailRequest, check_allowlist, check_topic, resolve_template
from ..errors import InvalidEvent
from .ses import OutgoingEmail
from ..shared.settings import Settings


def templated_email(
    request: EmailRequest,
    settings: Settings,
    *,
    extra_to: Sequence[str] = (),
    subject_prefix: str = "",
    headers: Mapping[str, str] | None = None,
) -> OutgoingEmail:
    """The email SES should send for a request on this stack.

    Args:
        request: the validated event.
        settings: catalog of deployed templates, default template, allowlist, lane.
        extra_to: recipients the lane adds (the on-call list), de-duplicated against the event's.
        subject_prefix: prepended to the `subject` variable (e.g. `[CRITICAL] `).
        headers: extra mail headers (e.g. importance).

    Raises:
        InvalidEvent: unknown template, incomplete data, too many recipients, a recipient
            outside the stack's allowlist, or a topic the stack lacks or the source may not use.
    """
    template = resolve_template(request, settings.templates, settings.default_template)
    data = dict(template.data)
    if subject_prefix and "subject" in data:
        data["subject"] = f"{subject_prefix}{data['subject']}"
    to = _unique(request.to + tuple(extra_to), exclude=request.cc + request.bcc)
    if len(to) + len(request.cc) + len(request.bcc) > MAX_RECIPIENTS:
        raise InvalidEvent(
            "detail.emailConfig",
            f"with this lane's added recipients the message has more than {MAX_RECIPIENTS}, SES's limit",
        )
    check_allowlist(to + request.cc + request.bcc, settings.recipient_allowlist)
    # A topic makes it subscribed mail (one-click unsubscribe); without one it is transactional.
    check_topic(request, settings.topics)
    if request.topic is not None and len(to) != 1:
        raise InvalidEvent("detail.topic", "this lane adds recipients (on-call) and a send with a topic goes to one "
                                           "recipient only: route the event to another lane")
    return OutgoingEmail(
        to=to,
        cc=request.cc,
        bcc=request.bcc,
        reply_to=request.reply_to,
        lane=settings.lane,
        template_label=f"{template.name}-{template.version}",
        template_name=template.deployed.deployed_name,
        template_data=data,
        headers=dict(headers or {}),
        tags=request.tags,
        correlation=correlation_tags(request, settings),
        contact_list=settings.contact_list if request.topic else None,
        topic=request.topic,
    )


def correlation_tags(request: EmailRequest, settings: Settings) -> dict[str, str]:
    """The SES tags that tie the send's later SES events to this event (`handlers.shared.correlation`)."""
    tags = {correlation.KEY_HASH: hashing.key_hash(request.idempotency_key, settings.recipient_hash_key)}
    if request.event_id and correlation.encode_tag_value(request.event_id) == request.event_id:
        tags[correlation.EVENT_ID] = request.event_id  # EventBridge's ids are UUIDs
    source = correlation.encode_tag_value(request.source)
    if source is not None:
        tags[correlation.SOURCE] = source
    if request.correlation_id is not None:
        tags[correlation.CORRELATION_ID] = request.correlation_id
    if request.topic is not None:
        tags[correlation.TOPIC] = request.topic  # names SES's tag alphabet allows (`shared.topics.TOPIC_NAME`)
    return tags


def _unique(addresses: Sequence[str], exclude: Sequence[str]) -> tuple[str, ...]:
    """Keep the first spelling of each address, case-insensitively, skipping excluded ones."""
    seen = {address.lower() for address in exclude}
    unique: list[str] = []
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            unique.append(address)
    return tuple(unique)
