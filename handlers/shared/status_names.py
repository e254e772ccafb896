"""The names delivery status is known by outside its handler: what producers match, where records live.

Dependency-free, so the Pulumi program (the role's conditions), the operator tool (`trace`) and the
local system import them without the handler's clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .table_keys import status_record_id

#: SES's events on the default bus: their `source`, and the detail-types that carry a recipient's
#: status (EventBridge Events Reference, "Amazon Simple Email Service events"): what the
#: DeliveryStatus rule takes and the status handler reads (`handlers.delivery_status.ses_events.KINDS`).
SES_SOURCE = "aws.ses"
SES_STATUS_DETAIL_TYPES = ("Email Delivered", "Email Bounced", "Email Complaint Received", "Email Delivery Delayed",
                           "Email Rejected", "Email Rendering Failed", "Email Subscribed")

#: The status events' `source` and `detail-type` on the pipeline's bus: what a producer's rule matches.
STATUS_SOURCE = "email-pipeline.delivery-status"
STATUS_DETAIL_TYPE = "Email Status Changed"
#: The status handler's label where lanes are listed (its `EMAIL_LANE`, its log lines' `lane`, the
#: stack outputs' queue maps): it drains a queue, but sends nothing and keeps no send claims.
STATUS_LANE = "status"


#: A recipient's latest status is the record's attribute `r_<recipient hash>`.
_RECIPIENT_PREFIX = "r_"


def record_id(stack: str, ses_message_id: str) -> str:
    """The status record's key for a message (the handler writes it, `trace` reads it)."""
    return status_record_id(stack, ses_message_id)


def recipient_attribute(recipient_hash: str) -> str:
    """The record's attribute holding one recipient's latest status."""
    return f"{_RECIPIENT_PREFIX}{recipient_hash}"


def latest_by_recipient(item: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A record's latest status per recipient hash (each a DynamoDB map's fields), from GetItem's `Item`."""
    return {name.removeprefix(_RECIPIENT_PREFIX): value["M"] for name, value in item.items()
            if name.startswith(_RECIPIENT_PREFIX)}
