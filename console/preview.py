"""One sample through a lane, without sending: the test event, the lane's checks, the rendered email, the SES request.

The preview builds the event a test send would put on the bus (`test_event`), has the lane's own
`compose` read it (the contract, the template and data checks, the allowlist: what dead-letters an
event before SES sees it), renders the email the lane's data makes, and shows the SendEmail
request the lane would make (`handlers.sending.ses.SesSender.request_for`). Locally the lane's
catalog is this checkout's templates (as `pulumi up` would deploy them), so an edit shows on
reload; on a deployed stack it is the function's own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from ..handlers.errors import InvalidEvent
from ..handlers.sending.contract import parse_event
from ..handlers.sending.ses import OutgoingEmail, SesSender
from ..handlers.shared.simulator import SIMULATOR_DOMAIN, SUCCESS
from ..template_check import ALWAYS_PROVIDED
from ..template_files import HTML_FILE, SUBJECT_FILE, TEXT_FILE, TemplateFiles, deployed_catalog, discover
from .http_errors import bad_request
from .source import ConsoleSource, Lane, Mode
from .template_library import TemplateVersionFolder

#: What a test event is, unless the form says otherwise: the recipe's request, which the default
#: routes take to the normal lane.
DEFAULT_SOURCE = "custom.application"
DEFAULT_DETAIL_TYPE = "Email Notification Request"
DEFAULT_LANE = "normal"
DEFAULT_RECIPIENT = f"{SUCCESS}@{SIMULATOR_DOMAIN}"
#: Test sends say so in their idempotency key and correlation id (`[A-Za-z0-9_-]`, as the contract wants).
TEST_PREFIX = "console-test"


@dataclass(frozen=True)
class TestEvent:
    """The event a test send puts on the stack's bus: a producer's request for one sample."""

    __test__ = False  # not a pytest class

    source: str
    detail_type: str
    detail: Mapping[str, Any]

    def entry(self, bus: str) -> dict[str, Any]:
        """The PutEvents entry."""
        return {"EventBusName": bus, "Source": self.source, "DetailType": self.detail_type,
                "Detail": json.dumps(self.detail)}

    def as_delivered(self) -> str:
        """The event as the lane's queue would hand it over (an EventBridge event with an id and a time)."""
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return json.dumps({"version": "0", "id": f"preview-{uuid.uuid4()}", "source": self.source,
                           "detail-type": self.detail_type, "time": now, "detail": self.detail})


def test_event(version: TemplateVersionFolder, sample: str, recipient: str, *, source: str = DEFAULT_SOURCE,
               detail_type: str = DEFAULT_DETAIL_TYPE) -> TestEvent:
    """The event that sends `version` with the sample's data to `recipient` (a fresh idempotency key each time).

    Raises:
        ConsoleError: no such sample, or it is not a JSON object.
    """
    token = uuid.uuid4().hex[:12]
    detail = {"emailConfig": {"recipient": recipient}, "template": version.name, "templateVersion": version.version,
              "templateData": version.sample(sample), "idempotencyKey": f"{TEST_PREFIX}-{token}",
              "correlationId": f"{TEST_PREFIX.replace('-', '_')}_{token}"}
    return TestEvent(source or DEFAULT_SOURCE, detail_type or DEFAULT_DETAIL_TYPE, detail)


@dataclass(frozen=True)
class LaneCheck:
    """What a lane makes of an event: the email it would send, or why it would not (`code`, `field`, `reason`)."""

    lane: Lane
    email: OutgoingEmail | None = None
    code: str = ""
    field: str = ""
    reason: str = ""

    def document(self) -> dict[str, Any]:
        if self.email is not None:
            return {"sends": True}
        return {"sends": False, "code": self.code, "field": self.field, "reason": self.reason}


def lane_view(source: ConsoleSource, lane_name: str, event: TestEvent) -> LaneCheck:
    """What the lane makes of the event: the email it would send, or why it would dead-letter the event."""
    lane = source.lane(lane_name)
    if source.mode is Mode.LOCAL:
        # The checkout's templates, as `pulumi up` would deploy them: an edit shows on reload.
        try:
            catalog = deployed_catalog(discover(source.templates_dir), source.name)
        except (OSError, ValueError) as exc:  # a missing part; a part that does not parse (TemplateSyntaxError)
            return LaneCheck(lane, code="NotDeployable", field="templates",
                             reason=f"pulumi preview would refuse these templates: {' '.join(str(exc).split())}")
        lane = dataclasses.replace(lane, settings=lane.settings._replace(templates=catalog))
    try:
        return LaneCheck(lane, lane.compose(parse_event(event.as_delivered()), lane.settings))
    except InvalidEvent as refused:
        return LaneCheck(lane, code=refused.code, field=refused.field, reason=refused.reason)


def deployed_name(source: ConsoleSource, version: TemplateVersionFolder) -> str:
    """The SES template name the stack deployed the version as (`<project>-<stack>-<name>-<version>`).

    Raises:
        ConsoleError: the name would break SES's rules (400).
    """
    try:
        return TemplateFiles(version.name, version.version, "", "", "").deployed_name(source.name)
    except ValueError as exc:
        raise bad_request(str(exc).split(":")[0], "shorten the template folder's name") from None


def preview(source: ConsoleSource, version: TemplateVersionFolder, sample: str, *, lane: str = DEFAULT_LANE,
            recipient: str = DEFAULT_RECIPIENT) -> dict[str, Any]:
    """`GET /api/templates/<name>/<version>/preview?sample=...`: the sample's email, its checks and its request.

    Raises:
        ConsoleError: an unknown sample or lane, a render SES refused to attempt, or an AWS failure.
    """
    data = version.sample(sample)
    event = test_event(version, sample, recipient)
    check = lane_view(source, lane, event)
    email = check.email
    # The data SES gets is the lane's (the event's variables under the sample's); when the lane refuses
    # the event, what the check renders with (the variables every event brings, then the sample's).
    render_data = dict(email.template_data) if email is not None else {**ALWAYS_PROVIDED, **data}
    name = deployed_name(source, version)
    rendered = source.renderer.render(version, name, render_data)
    request = SesSender(check.lane.settings, _model_only(source)).request_for(email) if email is not None else None
    return {
        "template": version.name, "version": version.version, "sample": sample, "lane": lane,
        "deployed_name": name, "data": data, "rendered": rendered.document(), "lane_check": check.document(),
        "ses_request": request, "event": {"Source": event.source, "DetailType": event.detail_type,
                                          "Detail": event.detail},
        "changed_since_start": _changed_since_start(source, version, name),
    }


def _model_only(source: ConsoleSource) -> Any:
    """Only the service model of the console's SES client: the request shows the fields this botocore sends."""
    return SimpleNamespace(meta=SimpleNamespace(service_model=source.aws.client("sesv2").meta.service_model))


def _changed_since_start(source: ConsoleSource, version: TemplateVersionFolder, name: str) -> bool | None:
    """Locally: whether the files differ from what the running stack renders (a test send uses that). None: unknown."""
    if source.started_templates is None:
        return None
    started = source.started_templates().get(name)
    if started is None:
        return True
    files = version.files()
    return (files[SUBJECT_FILE].strip(), files[HTML_FILE], files[TEXT_FILE]) != tuple(started)
