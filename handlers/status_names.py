"""The names delivery status is known by outside its handler: what producers match, where records live.

Dependency-free, so the Pulumi program (the role's conditions), the operator tool (`trace`) and the
local system import them without the handler's clients.
"""

from __future__ import annotations

#: The status events' `source` and `detail-type` on the pipeline's bus: what a producer's rule matches.
STATUS_SOURCE = "email-pipeline.delivery-status"
STATUS_DETAIL_TYPE = "Email Status Changed"
#: The status handler's label where lanes are listed (its `EMAIL_LANE`, its log lines' `lane`, the
#: stack outputs' queue maps): it drains a queue, but sends nothing and keeps no send claims.
STATUS_LANE = "status"


def record_id(stack: str, ses_message_id: str) -> str:
    """The status record's key for a message (the handler writes it, `trace` reads it)."""
    return f"{stack}#status#{ses_message_id}"
