"""The constant event names of the handlers' log lines.

Metric filters, saved queries and alarms match these exactly, so they are defined once, here, in a
module with no dependencies that both the handlers and the Pulumi program import.
"""

from __future__ import annotations

EMAIL_SENT = "email_sent"
EMAIL_SEND_FAILED = "email_send_failed"
EMAIL_REJECTED = "email_rejected"
EMAIL_DEFERRED = "email_deferred"
EMAIL_DUPLICATE_SKIPPED = "email_duplicate_skipped"
EMAIL_OUTCOME_UNKNOWN = "email_outcome_unknown"
RECORD_FAILED = "record_failed"
SES_SENDING_PAUSED = "ses_sending_paused"
SES_SENDING_NOT_AUTHORIZED = "ses_sending_not_authorized"
SES_HEADERS_UNSUPPORTED = "ses_headers_unsupported"
SES_DAILY_QUOTA_EXHAUSTED = "ses_daily_quota_exhausted"
DEAD_LETTER_FORWARD_FAILED = "dead_letter_forward_failed"
RECEIVES_EXHAUSTED = "receives_exhausted"
VISIBILITY_CHANGE_FAILED = "visibility_change_failed"
ACCOUNT_LIMITS_UNAVAILABLE = "account_limits_unavailable"
SEND_SCHEDULE_UNAVAILABLE = "send_schedule_unavailable"
REPORT_SENT = "report_sent"
# The status handler (`handlers.status`): SES's later events, as statuses.
EMAIL_STATUS = "email_status"
EMAIL_STATUS_SKIPPED = "email_status_skipped"
EMAIL_STATUS_UNATTRIBUTED = "email_status_unattributed"
SES_EVENT_REJECTED = "ses_event_rejected"
STATUS_NOT_PUBLISHED = "status_not_published"
STATUS_RECORD_UNAVAILABLE = "status_record_unavailable"
STATUS_RECORD_NOT_SAVED = "status_record_not_saved"

IDEMPOTENCY_RECORD_NOT_SAVED = "idempotency_record_not_saved"
IDEMPOTENCY_CLAIM_NOT_RELEASED = "idempotency_claim_not_released"
