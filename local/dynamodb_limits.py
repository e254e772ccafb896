"""What DynamoDB refuses that moto accepts: an expression longer than 4 KB.

"The maximum length of any expression string is 4 KB" (DynamoDB Developer Guide, "Quotas in
Amazon DynamoDB", expression parameters), measured on the string as sent, placeholders and all;
DynamoDB answers `ValidationException: Invalid <kind>Expression: Expression size has exceeded the
maximum allowed size; expression size: <bytes>` (the message as reported in pynamodb/PynamoDB#979).
moto evaluates any length, so a write that grows with a message's recipients would pass every
test here and fail on AWS. `install` makes a client refuse such a call before it is sent, as
DynamoDB does, on every client the tests and the local system give the handlers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

DYNAMODB_EXPRESSION_BYTES = 4096
_EXPRESSIONS = ("ConditionExpression", "UpdateExpression", "ProjectionExpression", "FilterExpression",
                "KeyConditionExpression")


def install(client: Any) -> Any:
    """Make a botocore DynamoDB client refuse an expression over 4 KB, as DynamoDB does."""
    client.meta.events.register("before-parameter-build.dynamodb", _refuse_long_expressions)
    return client


def _refuse_long_expressions(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    for name in _EXPRESSIONS:
        size = len(str(params.get(name, "")).encode())
        if size > DYNAMODB_EXPRESSION_BYTES:
            raise ClientError({"Error": {"Code": "ValidationException", "Message": (
                f"Invalid {name}: Expression size has exceeded the maximum allowed size; expression size: {size}")},
                "ResponseMetadata": {"HTTPStatusCode": 400}}, model.name)
