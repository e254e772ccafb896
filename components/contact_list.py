"""Subscription topics and the SES contact list that holds them.

A send naming a topic is subscribed mail: SES adds RFC 8058 one-click unsubscribe headers, hosts
the unsubscribe page, skips contacts who opted out of the topic and publishes `Subscription`
events (SES Developer Guide, "Using list management"). SES keeps one contact list per account and
Region ("Service quotas": contact lists per account, 1; topics per list, 20), so one stack in an
account declares it and the others name it (`manage_contact_list=False`).

The pipeline creates no contacts. A topic's default subscription status applies to everyone who
has noted no preference (SES API v2 Reference, `Topic.DefaultSubscriptionStatus`): `OPT_IN`
(subscribed until they unsubscribe) reaches every recipient, `OPT_OUT` only contacts someone added
and opted in (sesv2 `CreateContact` or `UpdateContact`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .checks import Problem
from .handlers.shared.topics import MAX_TOPICS, TOPIC_NAME, encode

#: SES's `SubscriptionStatus` (botocore's sesv2 model: OPT_IN | OPT_OUT).
SUBSCRIPTION_STATUSES = ("OPT_IN", "OPT_OUT")
#: The pipeline's rule for a contact list's name: a topic's (SES's tag alphabet, at most 64).
CONTACT_LIST_NAME = TOPIC_NAME


@dataclass(frozen=True)
class Topic:
    """One subscription topic.

    Args:
        name: what events name in `detail.topic` (letters, digits, `_`, `-`; at most 64).
        display_name: what SES's unsubscribe page shows the recipient.
        description: what the page says the topic is about.
        default_subscription: `OPT_IN` (subscribed until they unsubscribe) or `OPT_OUT`
            (only contacts who opted in).
        sources: the event sources that may send with the topic (none listed: any).
    """

    name: str
    display_name: str
    description: str = ""
    default_subscription: str = "OPT_IN"
    sources: tuple[str, ...] = ()

    def problems(self, at: str) -> list[Problem]:
        found = []
        if not TOPIC_NAME.match(self.name):
            found.append(Problem(f"{at}.name", "must be 1-64 letters, digits, _ and -"))
        if not self.display_name.strip():
            found.append(Problem(f"{at}.displayName", "is required (SES's unsubscribe page shows it)"))
        if self.default_subscription not in SUBSCRIPTION_STATUSES:
            found.append(Problem(f"{at}.defaultSubscription", f"must be {' or '.join(SUBSCRIPTION_STATUSES)}"))
        if any(not isinstance(source, str) or not source for source in self.sources):
            found.append(Problem(f"{at}.sources", "must list event sources (e.g. shop.marketing)"))
        return found


def topics_problems(topics: Sequence[Topic], contact_list: str) -> list[Problem]:
    """The topics as one list: at most SES's 20, each name once, and a valid list name."""
    found = [problem for index, topic in enumerate(topics) for problem in topic.problems(f"topics[{index}]")]
    names = [topic.name for topic in topics]
    found += [Problem("topics", f"the topic {name!r} is declared twice") for name in sorted(set(names))
              if names.count(name) > 1]
    if len(topics) > MAX_TOPICS:
        found.append(Problem("topics", f"{len(topics)} topics; SES allows {MAX_TOPICS} in a contact list"))
    if contact_list and not CONTACT_LIST_NAME.match(contact_list):
        found.append(Problem("contact_list", "must be 1-64 letters, digits, _ and -"))
    return found


def lane_settings(topics: Sequence[Topic]) -> str:
    """`EMAIL_TOPICS` for the lanes: each topic and the sources that may use it."""
    return encode({topic.name: topic.sources for topic in topics})


def declare(name: str, list_name: str, topics: Sequence[Topic], tags: Mapping[str, str],
            parent: pulumi.Resource) -> aws.sesv2.ContactList:
    """The account's contact list with the stack's topics."""
    return aws.sesv2.ContactList(
        f"{name}-contact-list",
        contact_list_name=list_name,
        description="Subscription topics of the email pipeline's subscribed mail",
        topics=[aws.sesv2.ContactListTopicArgs(
            topic_name=topic.name, display_name=topic.display_name, description=topic.description or None,
            default_subscription_status=topic.default_subscription) for topic in topics],
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
