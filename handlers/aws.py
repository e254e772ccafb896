"""AWS clients for the handlers, made from botocore directly.

boto3 adds nothing the handlers use (no resources, no S3 transfers), but importing it costs about
50 ms of cold start, mostly s3transfer. One shared botocore session means the endpoint and
partition data are loaded once for all of a function's clients.
"""

from __future__ import annotations

import gc
from typing import Any

import botocore.session
from botocore.config import Config

from .shared.timeouts import SES_SEND, STANDARD, STATE_TABLE, CallLimits

#: botocore's modules live as long as the container: out of the cyclic collector's reach from now on,
#: so the collections the rest of the init phase triggers do not walk them again and again
#: (`handlers.entry.end_of_init` says why and what it saves).
gc.freeze()
_SESSION = botocore.session.get_session()


def config_for(limits: CallLimits, *, validate: bool = True) -> Config:
    """A botocore config with `limits`' timeouts and attempts, in the standard retry mode.

    `validate=False` skips botocore's client-side check of each request against the service
    model: for requests whose shape is the handlers' own, never the producer's data.
    """
    return Config(connect_timeout=limits.connect_timeout, read_timeout=limits.read_timeout,
                  retries={"mode": "standard", "total_max_attempts": limits.attempts}, parameter_validation=validate)

#: Tight timeouts and botocore's standard retry mode (3 attempts in all, jittered backoff): a
#: slow call fails fast and the queue's redelivery takes over, instead of eating the timeout.
STANDARD_CONFIG = config_for(STANDARD)


#: SendEmail makes one attempt per call: `SesSender.send` makes the only retry, of what SES cannot
#: have acted on (SES takes no idempotency token; see `handlers.sending.ses`).
SES_CONFIG = config_for(SES_SEND._replace(attempts=1))
#: The state table answers in milliseconds: a slow call fails fast (`timeouts.STATE_TABLE`). Its
#: requests (claims, bookings, batch records, status records) have fixed shapes built by the handlers and pinned by
#: their tests against moto, so botocore's client-side validation is skipped: it was a quarter of
#: the CPU of each call, and an email makes more than one (bench/README.md, CPU per email).
#: DynamoDB still validates every request itself. SendEmail, built from producers' data, keeps it.
STATE_TABLE_CONFIG = config_for(STATE_TABLE, validate=False)


def create_client(service: str, config: Config, region_name: str | None = None) -> Any:
    """A client for `service` in the function's region (Lambda sets AWS_DEFAULT_REGION)."""
    return _SESSION.create_client(service, region_name=region_name, config=config)


def create_ses_client(region_name: str | None = None) -> Any:
    """An SES v2 client with tight timeouts that never retries by itself."""
    return create_client("sesv2", SES_CONFIG, region_name)


def create_dynamodb_client(region_name: str | None = None) -> Any:
    """A DynamoDB client for the state table, with tight timeouts."""
    return create_client("dynamodb", STATE_TABLE_CONFIG, region_name)
