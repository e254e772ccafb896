"""AWS clients for the handlers, made from botocore directly.

boto3 adds nothing the handlers use (no resources, no S3 transfers), but importing it costs about
50 ms of cold start, mostly s3transfer. One shared botocore session means the endpoint and
partition data are loaded once for all of a function's clients.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.config import Config

from .shared.timeouts import STANDARD, CallLimits

_SESSION = botocore.session.get_session()


def config_for(limits: CallLimits) -> Config:
    """A botocore config with `limits`' timeouts and attempts, in the standard retry mode."""
    return Config(connect_timeout=limits.connect_timeout, read_timeout=limits.read_timeout,
                  retries={"mode": "standard", "total_max_attempts": limits.attempts})

#: Tight timeouts and botocore's standard retry mode (3 attempts in all, jittered backoff): a
#: slow call fails fast and the queue's redelivery takes over, instead of eating the timeout.
STANDARD_CONFIG = config_for(STANDARD)


def create_client(service: str, config: Config, region_name: str | None = None) -> Any:
    """A client for `service` in the function's region (Lambda sets AWS_DEFAULT_REGION)."""
    return _SESSION.create_client(service, region_name=region_name, config=config)
