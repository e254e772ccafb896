"""What ties SES's later events for a message back to the pipeline event that sent it.

SES publishes a message's delivery, bounce, complaint and the rest long after the send, carrying
only SES's message id and the message's tags. So every send carries, as SES message tags, what a
status handler needs: the event's id and source, the lane, a keyed hash of its idempotency key,
and the producer's `correlationId` (returned unchanged). SES tag values allow only
`[A-Za-z0-9_-]`, at most 256 characters (botocore's sesv2 model, `MessageTag`), so an event
`source` such as `shop.orders` is escaped (`encode_tag_value`) and read back with
`decode_tag_value`.

The key is hashed with the stack's recipient-hash key: an idempotency key may embed an address,
and an unkeyed hash of one can be reversed by hashing guesses.
"""

from __future__ import annotations


#: Tags the pipeline sets on every send; a producer's own tags may not use these names.
LANE, TEMPLATE, STACK = "lane", "template", "stack"
EVENT_ID, SOURCE, KEY_HASH, CORRELATION_ID = "event_id", "source", "key_hash", "correlation_id"
#: The subscription topic a send named (only on sends with one): what an unsubscribe was from.
TOPIC = "topic"
SYSTEM_TAGS = (LANE, TEMPLATE, STACK, EVENT_ID, SOURCE, KEY_HASH, CORRELATION_ID, TOPIC)
#: SES takes at most 50 tags per message; what is left after the pipeline's own.
SES_MAX_TAGS = 50
MAX_TAG_VALUE_CHARS = 256
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")



def encode_tag_value(text: str) -> str | None:
    """`text` in SES's tag alphabet: `_` and every other character as `_` + its UTF-8 bytes in hex.

    Returns None when the result would exceed SES's 256 characters.
    """
    encoded = "".join(ch if ch in _PLAIN else "".join(f"_{byte:02X}" for byte in ch.encode()) for ch in text)
    return encoded if 0 < len(encoded) <= MAX_TAG_VALUE_CHARS else None


def decode_tag_value(value: str) -> str:
    """The text `encode_tag_value` encoded.

    Raises:
        ValueError: `value` is not such an encoding.
    """
    data, index = bytearray(), 0
    while index < len(value):
        if value[index] == "_":
            pair = value[index + 1:index + 3]
            if len(pair) != 2 or not all(ch in "0123456789ABCDEF" for ch in pair):
                raise ValueError(f"'_' at {index} is not followed by two hex digits")
            data.append(int(pair, 16))
            index += 3
        else:
            data.extend(value[index].encode())
            index += 1
    return data.decode()
