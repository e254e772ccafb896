"""EventBridge's input transformers as AWS applies them to a path the event lacks: moto differs there.

AWS: "If you specify a variable to match a JSON path that doesn't exist in the event, that variable
isn't created and won't appear in the output" (EventBridge User Guide, "Amazon EventBridge input
transformation", common issues): a quoted placeholder of such a variable renders as an empty
string. LocalStack's AWS-validated snapshot of that case records the same
(`tests/aws/services/events/test_events_inputs.snapshot.json`, "custom-variables-not-match-all").
moto 5.2 substitutes only what it finds and leaves `<variable>` in the output, so an SES bounce's
feedback line read `"complaintFeedbackType":"<complaintFeedbackType>"` locally. `install()`
wraps moto's `EventTemplateParser.parse`, in the process that runs moto's server, to remove a
missing variable's placeholder first, as AWS does, and leave the rest to moto.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonpath_ng.ext import parse as json_path
from moto.events.utils import EventTemplateParser

_INSTALLED = "_local_missing_paths_render_empty"


def render_missing_as_empty(template: str | None, paths: Mapping[str, str] | None, event: Any) -> str | None:
    """`template` with the placeholder of each variable whose path `event` lacks (or holds null) made empty."""
    if template is None:
        return None
    for variable, path in (paths or {}).items():
        found = json_path(path).find(event)
        if not found or found[0].value is None or found[0].value == "":
            template = template.replace(f"<{variable}>", "")
    return template


def install() -> None:
    """Make moto's EventBridge apply input transformers as AWS does to missing paths (idempotent, process-wide)."""
    if getattr(EventTemplateParser, _INSTALLED, False):
        return
    moto_parse = EventTemplateParser.parse

    def parse(input_template: str, input_paths_map: dict[str, Any], event: Any) -> dict[str, Any]:
        return moto_parse(render_missing_as_empty(input_template, input_paths_map, event), input_paths_map, event)

    EventTemplateParser.parse = staticmethod(parse)  # type: ignore[method-assign]
    setattr(EventTemplateParser, _INSTALLED, True)
