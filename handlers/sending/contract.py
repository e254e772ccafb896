"""The event contract: turn one SQS message body (an EventBridge event) into a checked request.

The recipe's shape works unchanged (`detail.emailConfig.recipient`, `.subject`, `detail.title`,
`detail.message`, `detail.priority`, with `source` and `detail-type` from the envelope). The
extensions a user would reach for are optional fields beside it; README.md documents them all.

Every rejection is an `InvalidEvent` naming the field and the rule it breaks, because that text is
what a person reading the dead-letter queue sees. It never quotes the offending value: reasons are
logged and attached to dead letters, and a value can be an address or template data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from ..shared.catalog import Catalog, TemplateVersion, newest_version
from ..shared.correlation import SES_MAX_TAGS, SYSTEM_TAGS
from ..errors import InvalidEvent
from ..shared.simulator import is_simulator_address
from ..shared.topics import TOPIC_NAME, UNSUBSCRIBE_URL_VARIABLE

#: SES accepts at most 50 recipients per message, across To, CC and BCC.
MAX_RECIPIENTS = 50
#: SES's limit on serialized template data.
MAX_TEMPLATE_DATA_CHARS = 262_144
#: SES's limit on a message tag's name and value.
MAX_TAG_CHARS = 256
#: SES's limit on tags per message, less the ones this system adds (`correlation.SYSTEM_TAGS`).
MAX_USER_TAGS = SES_MAX_TAGS - len(SYSTEM_TAGS)
MAX_SUBJECT_CHARS = 998  # RFC 5322 line length, the most a subject header can carry
MAX_IDEMPOTENCY_KEY_CHARS = 256
PRIORITIES = ("low", "normal", "high", "critical")

# RFC 5321 limits: 64 characters of local part, 254 in all. SES accepts only 7-bit ASCII
# addresses (internationalized domains go as punycode), so the pattern is ASCII on purpose.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
    r"@(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_TAG = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
#: CR and LF inject headers; NUL and the other C0 controls (all but TAB) and DEL corrupt them.
_HEADER_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HEADER_UNSAFE_REASON = "contains a control character (CR, LF, NUL, ...), which would inject or corrupt mail headers"


class EmailRequest(NamedTuple):
    """A validated request to send one email, independent of which lane carried it."""

    event_id: str
    idempotency_key: str
    source: str
    detail_type: str
    time: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    subject: str | None = None
    title: str | None = None
    message: str | None = None
    priority: str | None = None
    template: str | None = None
    template_version: str | None = None
    template_data: Mapping[str, Any] = MappingProxyType({})
    tags: Mapping[str, str] = MappingProxyType({})
    correlation_id: str | None = None
    #: The subscription topic (`detail.topic`): subscribed mail, sent with one-click unsubscribe.
    topic: str | None = None

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone who receives a copy; SES counts each against the send rate."""
        return self.to + self.cc + self.bcc


class ResolvedTemplate(NamedTuple):
    """The SES template a request will be sent with, and the data to render it."""

    name: str
    version: str
    deployed: TemplateVersion
    data: Mapping[str, Any]


def parse_event(body: str) -> EmailRequest:
    """Parse and validate an SQS message body holding an EventBridge event.

    Raises:
        InvalidEvent: naming the first field that is missing, malformed or unsafe.
    """
    event = _json_object(body)
    detail = _object("detail", event.get("detail"))
    config = _object("detail.emailConfig", detail.get("emailConfig", {}))
    event_id = _optional_text(event, "id")
    request = EmailRequest(
        event_id=event_id or "",
        idempotency_key=_idempotency_key(detail, event_id),
        source=_optional_text(event, "source") or "unknown",
        detail_type=_optional_text(event, "detail-type") or "Notification",
        time=_optional_text(event, "time") or "",
        to=_addresses(config, "recipient", "detail.emailConfig.recipient", required=True),
        cc=_addresses(config, "cc", "detail.emailConfig.cc"),
        bcc=_addresses(config, "bcc", "detail.emailConfig.bcc"),
        reply_to=_addresses(config, "replyTo", "detail.emailConfig.replyTo"),
        subject=_header_text(config, "subject", "detail.emailConfig.subject", MAX_SUBJECT_CHARS),
        title=_optional_text(detail, "title", "detail.title"),
        message=_optional_text(detail, "message", "detail.message"),
        priority=_priority(detail),
        template=_header_text(detail, "template", "detail.template", 64),
        template_version=_header_text(detail, "templateVersion", "detail.templateVersion", 64),
        template_data=_template_data(detail),
        tags=_tags(detail),
        correlation_id=_correlation_id(detail),
        topic=_topic(detail),
    )
    _check_recipient_count(request)
    return request


def check_topic(request: EmailRequest, topics: Mapping[str, Sequence[str]]) -> None:
    """A send with a topic: one of the stack's, open to the event's source, to one recipient.

    One recipient, because what SES adds is the recipient's own: the unsubscribe link and the
    `List-Unsubscribe` header name one contact, and a copy to a second recipient would let them
    unsubscribe the first.

    Raises:
        InvalidEvent: the stack has no such topic, the source may not use it, or the message has
            more than one recipient.
    """
    if request.topic is None:
        return
    if request.topic not in topics:
        known = ", ".join(sorted(topics)) or "none: the stack declares no topics"
        raise InvalidEvent("detail.topic", f"not a topic of this stack (topics: {known})")
    allowed = topics[request.topic]
    if allowed and request.source not in allowed:
        raise InvalidEvent("detail.topic", "this event's source may not send to the topic (stack config topics, "
                                           "its sources)")
    if len(request.recipients) != 1:
        raise InvalidEvent("detail.emailConfig", "a send with a topic goes to exactly one recipient, no cc or bcc: "
                                                 "its unsubscribe link and header are that recipient's own")


def resolve_template(
    request: EmailRequest,
    catalog: Catalog,
    default_template: str,
) -> ResolvedTemplate:
    """Pick the deployed template and check that the data renders it completely.

    Without `detail.template` the default template gets the recipe's variables (subject, title,
    message, timestamp, source). Without `detail.templateVersion` the newest version is used.

    Raises:
        InvalidEvent: the template or version is unknown, the data lacks a variable the template
            prints for this data, or a value printed in the subject contains a line break.
    """
    name = request.template or default_template
    versions = catalog.get(name)
    if not versions:
        known = ", ".join(sorted(catalog)) or "none deployed"
        raise InvalidEvent("detail.template", f"not a deployed template (known: {known})")
    version = request.template_version or newest_version(versions)
    deployed = versions.get(version)
    if deployed is None:
        raise InvalidEvent(
            "detail.templateVersion",
            f"not a deployed version of template {name!r} (deployed: {', '.join(sorted(versions))})",
        )
    if UNSUBSCRIBE_URL_VARIABLE in request.template_data:
        raise InvalidEvent(f"detail.templateData.{UNSUBSCRIBE_URL_VARIABLE}",
                           "is SES's own placeholder, filled for sends with a topic; leave it out")
    data = {**_recipe_variables(request), **request.template_data}
    # Only what SES prints for this data: a variable in a block the data skips is optional.
    filled = {**data, UNSUBSCRIBE_URL_VARIABLE: "filled by SES"} if request.topic else data
    missing = deployed.variables.missing(filled)
    if missing == [UNSUBSCRIBE_URL_VARIABLE]:
        raise InvalidEvent("detail.topic", f"template {name!r} {version} prints SES's unsubscribe link "
                                           f"({UNSUBSCRIBE_URL_VARIABLE}), which only a send with a topic has")
    if missing:
        raise InvalidEvent(
            "detail.templateData",
            f"template {name!r} {version} uses {missing} but the event does not provide them",
        )
    for variable in sorted(deployed.subject_variables.printed(data)):
        if _holds_header_unsafe_text(data.get(variable)):
            raise InvalidEvent(
                f"detail.templateData.{variable}",
                f"is printed in the subject header and {_HEADER_UNSAFE_REASON}",
            )
    return ResolvedTemplate(name=name, version=version, deployed=deployed, data=data)


def check_allowlist(recipients: Sequence[str], allowlist: Sequence[str]) -> None:
    """On non-production stacks, refuse recipients outside the allowlist.

    Allowlist entries are whole addresses or `@domain` suffixes; an empty allowlist allows all.
    SES's mailbox simulator addresses pass every allowlist, as they pass the SES sandbox: they
    reach no one (`simulator`).

    Raises:
        InvalidEvent: a recipient is not allowed on this stack.
    """
    if not allowlist:
        return
    for index, address in enumerate(recipients):
        if is_simulator_address(address):
            continue
        lowered = address.lower()
        domain = "@" + lowered.rpartition("@")[2]
        if lowered not in allowlist and domain not in allowlist:
            raise InvalidEvent(
                f"recipients[{index}]",
                "not in this stack's recipient allowlist (config recipientAllowlist)",
            )


def _recipe_variables(request: EmailRequest) -> dict[str, Any]:
    """The variables the recipe's template uses, taken from the event as the recipe does."""
    variables = {
        "subject": request.subject or f"Notification: {request.detail_type}",
        "title": request.title or request.detail_type,
        "message": request.message,
        "timestamp": request.time,
        "source": request.source,
        "priority": request.priority,
    }
    return {key: value for key, value in variables.items() if value not in (None, "")}


def _holds_header_unsafe_text(value: Any) -> bool:
    """Whether a value of any JSON type renders with a control character (SES prints lists too)."""
    if isinstance(value, str):
        return bool(_HEADER_UNSAFE.search(value))
    if isinstance(value, Mapping):
        return any(_holds_header_unsafe_text(key) or _holds_header_unsafe_text(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_header_unsafe_text(item) for item in value)
    return False


class _NotStrictJson(ValueError):
    """`NaN`, `Infinity` or `-Infinity`: Python's parser accepts them, JSON (and SES) does not."""


def _refuse_constant(name: str) -> Any:
    raise _NotStrictJson(name)


def _json_object(body: str) -> dict[str, Any]:
    try:
        event = json.loads(body, parse_constant=_refuse_constant)
    except _NotStrictJson as exc:
        raise InvalidEvent("body", "contains NaN or Infinity, which strict JSON does not allow") from exc
    except RecursionError as exc:
        raise InvalidEvent("body", "nested too deeply to parse; events are shallow JSON objects") from exc
    except (TypeError, ValueError) as exc:
        raise InvalidEvent("body", f"not JSON ({exc.__class__.__name__} at {_position(exc)})") from exc
    if not isinstance(event, dict):
        raise InvalidEvent("body", f"expected a JSON object, got {type(event).__name__}")
    return event


def _position(exc: Exception) -> str:
    return f"char {exc.pos}" if isinstance(exc, json.JSONDecodeError) else "start"


def _object(path: str, value: Any) -> dict[str, Any]:
    if value is None:
        raise InvalidEvent(path, "missing: expected a JSON object")
    if not isinstance(value, dict):
        raise InvalidEvent(path, f"expected a JSON object, got {type(value).__name__}")
    return value


def _optional_text(parent: Mapping[str, Any], key: str, path: str | None = None) -> str | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(path or key, f"expected a string, got {type(value).__name__}")
    return value


def _header_text(parent: Mapping[str, Any], key: str, path: str, limit: int) -> str | None:
    value = _optional_text(parent, key, path)
    if value is None:
        return None
    if _HEADER_UNSAFE.search(value):
        raise InvalidEvent(path, _HEADER_UNSAFE_REASON)
    if len(value) > limit:
        raise InvalidEvent(path, f"longer than {limit} characters ({len(value)})")
    return value


def _addresses(
    parent: Mapping[str, Any], key: str, path: str, *, required: bool = False
) -> tuple[str, ...]:
    value = parent.get(key)
    if value is None or value == [] or value == "":
        if required:
            raise InvalidEvent(path, "missing: at least one recipient address is required")
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise InvalidEvent(path, f"expected an address or a list of addresses, got {type(value).__name__}")
    return tuple(_address(item, f"{path}[{index}]") for index, item in enumerate(items))


def _address(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidEvent(path, f"expected an address string, got {type(value).__name__}")
    if _HEADER_UNSAFE.search(value):
        raise InvalidEvent(path, _HEADER_UNSAFE_REASON)
    if not _ADDRESS.match(value.strip()):
        raise InvalidEvent(path, "malformed email address (expected local@domain, ASCII)")
    return value.strip()


def _check_recipient_count(request: EmailRequest) -> None:
    count = len(request.recipients)
    if count > MAX_RECIPIENTS:
        raise InvalidEvent(
            "detail.emailConfig",
            f"{count} recipients across recipient, cc and bcc; SES allows at most {MAX_RECIPIENTS}",
        )


def _idempotency_key(detail: Mapping[str, Any], event_id: str | None) -> str:
    key = _header_text(detail, "idempotencyKey", "detail.idempotencyKey", MAX_IDEMPOTENCY_KEY_CHARS)
    if key:
        return key
    if not event_id:
        raise InvalidEvent("id", "missing: the EventBridge event id is the idempotency key when "
                                 "detail.idempotencyKey is absent")
    return event_id


def _priority(detail: Mapping[str, Any]) -> str | None:
    value = _optional_text(detail, "priority", "detail.priority")
    if value is None:
        return None
    if value.lower() not in PRIORITIES:
        raise InvalidEvent("detail.priority", f"must be one of {', '.join(PRIORITIES)} (any case)")
    return value.lower()


def _template_data(detail: Mapping[str, Any]) -> dict[str, Any]:
    data = detail.get("templateData", {})
    if not isinstance(data, dict):
        raise InvalidEvent("detail.templateData", f"expected a JSON object, got {type(data).__name__}")
    size = len(json.dumps(data, separators=(",", ":")))
    if size > MAX_TEMPLATE_DATA_CHARS:
        raise InvalidEvent(
            "detail.templateData", f"{size} characters serialized; SES allows {MAX_TEMPLATE_DATA_CHARS}"
        )
    return data


def _topic(detail: Mapping[str, Any]) -> str | None:
    value = detail.get("topic")
    if value is None:
        return None
    if not isinstance(value, str) or not TOPIC_NAME.match(value):
        raise InvalidEvent("detail.topic", "must be a topic name of 1-64 characters A-Z a-z 0-9 _ -")
    return value


def _correlation_id(detail: Mapping[str, Any]) -> str | None:
    """The producer's own id for this email, returned unchanged in its delivery status (an SES tag)."""
    value = detail.get("correlationId")
    if value is None:
        return None
    if not isinstance(value, str) or not _TAG.match(value):
        raise InvalidEvent("detail.correlationId",
                           "must be a string of 1-256 characters A-Z a-z 0-9 _ - (it travels as an SES message tag)")
    return value


def _tags(detail: Mapping[str, Any]) -> dict[str, str]:
    tags = detail.get("tags", {})
    if not isinstance(tags, dict):
        raise InvalidEvent("detail.tags", f"expected a JSON object, got {type(tags).__name__}")
    if len(tags) > MAX_USER_TAGS:
        raise InvalidEvent("detail.tags", f"{len(tags)} tags; at most {MAX_USER_TAGS} are allowed")
    # Tags are named by position: a name that breaks the rules may itself be personal data.
    for index, (name, value) in enumerate(tags.items()):
        if not _TAG.match(name):
            raise InvalidEvent(f"detail.tags[{index}]", "tag names may use only A-Z a-z 0-9 _ - (max 256)")
        if name in SYSTEM_TAGS:
            raise InvalidEvent(f"detail.tags[{index}]", f"tag names {', '.join(SYSTEM_TAGS)} are the pipeline's own")
        if not isinstance(value, str) or not _TAG.match(value):
            raise InvalidEvent(f"detail.tags[{index}]", "tag values must be strings of A-Z a-z 0-9 _ - (max 256)")
    return dict(tags)
