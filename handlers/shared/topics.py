"""Subscription topics: what the stack declares, what the lanes are told, and SES's unsubscribe placeholder.

A send that names a topic is subscribed mail: the lane sends it with SES's `ListManagementOptions`
(the stack's contact list and the topic), so SES adds RFC 8058 one-click unsubscribe headers, hosts
the unsubscribe endpoint, skips contacts who opted out and reports unsubscribes as `Subscription`
events. A send without one is transactional and never carries them (SES Developer Guide, "Using
subscription management").

Dependency-free: the Pulumi program writes the lanes' `EMAIL_TOPICS` with `encode`, the lanes
read it with `decode`, and the template check knows the placeholder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

#: SES's placeholder for the preference page's link in a topic send (SES fills it; the event's data never does).
UNSUBSCRIBE_URL_VARIABLE = "amazonSESUnsubscribeUrl"
#: "A list can have a maximum of 20 topics" (SES Developer Guide, "Using list management").
MAX_TOPICS = 20
#: A topic's name: SES sets no pattern; the pipeline keeps names to SES's tag alphabet so the
#: send's `topic` tag carries it unchanged (`handlers.shared.correlation.TOPIC`).
TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def encode(topics: Mapping[str, Sequence[str]]) -> str:
    """`EMAIL_TOPICS`: each topic and the event sources allowed to send to it (none listed: any)."""
    return json.dumps({name: list(sources) for name, sources in topics.items()}, sort_keys=True)


def decode(raw: str) -> dict[str, tuple[str, ...]]:
    """What `encode` wrote.

    Raises:
        ValueError: not a JSON object of topic names to lists of sources.
    """
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(
            isinstance(sources, list) and all(isinstance(s, str) for s in sources) for sources in value.values()):
        raise ValueError("EMAIL_TOPICS must map each topic to a list of event sources")
    return {str(name): tuple(sources) for name, sources in value.items()}
