"""The `topics` and `webhooks` stack settings read into `Topic`s and `Webhook`s, each problem named as the stack file writes it.

Both are lists of objects, which Pulumi's project schema cannot type, so Pulumi.yaml describes
them in a comment and this module checks them field by field (`stack_config.parse` calls it).
A webhook's secret (API key, password or client secret) is never in `webhooks`: it is the secret
config value `webhookSecrets.<name>`, which `__main__.py` reads as a Pulumi secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from .checks import did_you_mean
from .contact_list import Topic
from .status_webhooks import Webhook, WebhookAuth

TOPIC_FIELDS = ("name", "displayName", "description", "defaultSubscription", "sources")
WEBHOOK_FIELDS = ("name", "url", "statuses", "sources", "auth", "rateLimitPerSecond", "maxRetryAttempts",
                  "maxEventAgeSeconds")
AUTH_FIELDS = ("type", "header", "username", "tokenUrl", "clientId", "scope")
#: The secret config value holding each webhook's secret, by webhook name.
SECRETS_KEY = "webhookSecrets"


def topics(entries: list[Any], problems: list[str]) -> tuple[Topic, ...]:
    """The stack's topics; problems appended as `topics[i] (name).field: ...`."""
    found = []
    for index, entry in enumerate(entries):
        where = _where("topics", index, entry)
        trouble = _fields(where, entry, TOPIC_FIELDS, required=("name", "displayName"))
        if not trouble:
            topic = Topic(name=str(entry["name"]), display_name=str(entry["displayName"]),
                          description=str(entry.get("description") or ""),
                          default_subscription=str(entry.get("defaultSubscription", "OPT_IN")),
                          sources=_strings(entry.get("sources")))
            trouble = [f"{where}{problem.field[len(f'topics[{index}]'):]}: {problem.message}"
                       for problem in topic.problems(f"topics[{index}]")]
            if not trouble:
                found.append(topic)
        problems += trouble
    return tuple(found)


def webhooks(entries: list[Any], secret_names: Collection[str], problems: list[str]) -> tuple[Webhook, ...]:
    """The stack's webhooks, each with `secret` left empty for `__main__.py` to fill from `webhookSecrets`."""
    found = []
    for index, entry in enumerate(entries):
        where = _where("webhooks", index, entry)
        trouble = _fields(where, entry, WEBHOOK_FIELDS, required=("name", "url", "auth"))
        auth = entry.get("auth") if isinstance(entry, dict) else None
        if isinstance(auth, dict):
            trouble += _fields(f"{where}.auth", auth, AUTH_FIELDS, required=("type",))
        elif auth is not None:
            trouble.append(f"{where}.auth: must be an object, e.g. {{type: apiKey, header: x-api-key}}")
        if not trouble:
            hook = _webhook(entry, auth or {})
            trouble = [f"{where}{_camel(problem.field[len(f'webhooks[{index}]'):])}: {problem.message}"
                       for problem in hook.problems(f"webhooks[{index}]")]
            if not trouble and hook.name not in secret_names:
                trouble.append(f"{where}: no secret; set it with pulumi config set --secret --path "
                               f"'{SECRETS_KEY}.{hook.name}' <api key, password or client secret>")
            if not trouble:
                found.append(hook)
        problems += trouble
    names = [str(entry.get("name")) for entry in entries if isinstance(entry, dict)]
    problems += [f"webhooks: the name {name!r} is used twice" for name in sorted(set(names)) if names.count(name) > 1]
    problems += [f"{SECRETS_KEY}.{name}: no webhook of that name"
                 f"{did_you_mean(name, names) if names else ' (the stack declares no webhooks)'}"
                 for name in sorted(set(secret_names) - set(names))]
    return tuple(found)


def secret_names(raw: str | None, problems: list[str]) -> list[str]:
    """The webhook names `webhookSecrets` holds a secret for, from its raw config text (the values stay unread)."""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        value = None
    if not isinstance(value, dict):
        problems.append(f"{SECRETS_KEY}: must be an object of webhook name -> secret; set each with pulumi config "
                        f"set --secret --path '{SECRETS_KEY}.<name>' <secret>")
        return []
    return sorted(str(name) for name in value)


def _webhook(entry: dict[str, Any], auth: dict[str, Any]) -> Webhook:
    numbers = {name: entry[key] for key, name in (("rateLimitPerSecond", "rate_limit_per_second"),
                                                  ("maxRetryAttempts", "max_retry_attempts"),
                                                  ("maxEventAgeSeconds", "max_event_age_seconds")) if key in entry}
    return Webhook(
        name=str(entry["name"]), url=str(entry["url"]), secret="",
        auth=WebhookAuth(kind=str(auth.get("type")), header=str(auth.get("header") or ""),
                         username=str(auth.get("username") or ""), token_url=str(auth.get("tokenUrl") or ""),
                         client_id=str(auth.get("clientId") or ""), scope=str(auth.get("scope") or "")),
        statuses=_strings(entry.get("statuses")), sources=_strings(entry.get("sources")),
        **numbers)


def _where(key: str, index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{key}[{index}]" + (f" ({name})" if name else "")


def _fields(where: str, entry: Any, allowed: tuple[str, ...], required: tuple[str, ...]) -> list[str]:
    """Unknown fields (with the closest known one), and missing required ones."""
    if not isinstance(entry, dict):
        return [f"{where}: must be an object with {', '.join(allowed)}"]
    problems = [f"{where}.{key}: not a field here{did_you_mean(str(key), allowed)}" for key in entry
                if key not in allowed]
    missing = [name for name in required if entry.get(name) in (None, "")]
    if missing:
        problems.append(f"{where}: needs {' and '.join(missing)}")
    for key in ("rateLimitPerSecond", "maxRetryAttempts", "maxEventAgeSeconds"):
        if key in entry and (isinstance(entry[key], bool) or not isinstance(entry[key], int)):
            problems.append(f"{where}.{key}: must be a whole number")
    for key in ("sources", "statuses"):
        if key in entry and not (isinstance(entry[key], list) and all(isinstance(v, str) for v in entry[key])):
            problems.append(f"{where}.{key}: must be a list of names")
    return problems


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value or ())


def _camel(field: str) -> str:
    """`.auth.token_url` -> `.auth.tokenUrl`: a problem's argument as the stack file spells it."""
    return re.sub(r"_([a-z])", lambda match: match[1].upper(), field)
