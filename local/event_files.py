"""Events files: PutEvents entries, read and refused as `aws events put-events --entries file://...` would.

One file works with both tools: what `python -m local send` accepts, the AWS CLI accepts too. The
AWS CLI checks a request against the service's model before it calls PutEvents (botocore's
`ParamValidator`), so this module does the same, and says what to change in one line. `Detail`
is the one field people write wrong most: PutEvents takes it as JSON text, not as an object, and
the AWS CLI refuses an object; so does `send`, naming each entry (`python -m local event new`
writes the text for you).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from botocore.session import get_session
from botocore.validate import ParamValidator

#: What a file of entries should look like, for messages about one that does not.
ENTRIES_HINT = "write a JSON list of PutEvents entries, as in samples/events.json"
#: The command that writes a file both tools accept.
SCAFFOLD = "python -m local event new"
#: JSON's kinds of value, as a message names them.
_KINDS = {str: "a string", int: "a number", float: "a number", bool: "true or false", list: "a list",
          dict: "an object", type(None): "null"}


class EntriesFileError(Exception):
    """A file `send` cannot read as PutEvents entries; its text says what is wrong, then what to do."""

    def __init__(self, problem: str, fix: str = ENTRIES_HINT) -> None:
        super().__init__(f"{problem}; {fix}")


def load_entries(path: Path) -> list[dict[str, Any]]:
    """Entries as `aws events put-events --entries` takes them (a list, or `{"Entries": [...]}`).

    Raises:
        EntriesFileError: the file is missing, not JSON, or not entries PutEvents would take.
    """
    data = _read_json(path)
    if isinstance(data, dict):
        if "Entries" not in data:
            keys = ", ".join(f'"{key}"' for key in list(data)[:5]) or "no keys"
            raise EntriesFileError(f'{path} has no "Entries" (it is an object with {keys})',
                                   'write a JSON list of PutEvents entries, or {"Entries": [...]}, '
                                   "as in samples/events.json")
        data = data["Entries"]
        where = f'{path}: "Entries"'
    else:
        where = str(path)
    if not isinstance(data, list):
        raise EntriesFileError(f"{where} is {_kind(data)}, not a list of entries")
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise EntriesFileError(f"{path}: Entries[{index}] is {_kind(entry)}, not an object",
                                   'write each entry as {"Source": ..., "DetailType": ..., "Detail": ...}, '
                                   "as in samples/events.json")
    if data:  # none is nothing to send, not a mistake (PutEvents itself wants at least one)
        _check_details(path, data)
        check_put_events(path, data)
    return data


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EntriesFileError(f"{path}: no such file", "give the path of a JSON file of PutEvents entries, "
                                                        f"such as samples/events.json, or write one with {SCAFFOLD}") from None
    except UnicodeDecodeError:
        raise EntriesFileError(f"{path} is not JSON (not UTF-8 text)") from None
    except OSError as error:
        raise EntriesFileError(f"cannot read {path} ({error.strerror})",
                               "give the path of a readable JSON file of PutEvents entries") from None
    if not text.strip():
        raise EntriesFileError(f"{path} is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise EntriesFileError(f"{path} is not JSON ({error.msg} at {where})") from None


def _check_details(path: Path, entries: Sequence[Mapping[str, Any]]) -> None:
    """PutEvents takes `Detail` as JSON text; the AWS CLI refuses an object there, and so does `send`."""
    objects = [f"Entries[{index}]" for index, entry in enumerate(entries)
               if isinstance(entry.get("Detail"), (dict, list))]
    if objects:
        named = objects[0] if len(objects) == 1 else f"{', '.join(objects[:-1])} and {objects[-1]}"
        raise EntriesFileError(
            f"{path}: the Detail of {named} is written as a JSON object, and PutEvents (aws events put-events too) "
            "takes Detail only as JSON text",
            'write it as a string, "Detail": "{\\"title\\": \\"T\\"}", or let '
            f"`{SCAFFOLD} --source ... --detail-type ... --template ...` write the file")


def check_put_events(path: Path | str, entries: Sequence[Mapping[str, Any]]) -> None:
    """What the AWS CLI checks before it calls PutEvents: the request's shape, from the service model.

    Raises:
        EntriesFileError: the request breaks the model (an unknown key, a wrong type, a missing field).
    """
    shape = get_session().get_service_model("events").operation_model("PutEvents").input_shape
    report = ParamValidator().validate({"Entries": list(entries)}, shape)
    if report.has_errors():
        # One error per line; an unknown key's line ends with the keys an entry may have, said once here.
        problems, keys = [], ""
        for line in report.generate_report().splitlines():
            problem, _, names = line.partition(", must be one of: ")
            problems.append(problem)
            keys = names or keys
        said = " and ".join(problems) + (f" (an entry's keys are {keys})" if keys else "")
        raise EntriesFileError(f"{path} is not what PutEvents takes: {said}",
                               'write each entry as {"Source": ..., "DetailType": ..., "Detail": "<JSON text>"}, '
                               "as in samples/events.json (an event as EventBridge delivers it is not an entry)")


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)
