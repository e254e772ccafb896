"""`email-pipeline`: the operator's tool for a deployed stack or the local emulator.

Commands read a stack's names from `pulumi stack output --json` (or flags), then ask AWS:
`status` (queues, dead letters by failure code, SES, alarms), `dlq list|show|redrive`, `replay`
(from the bus archive), `hash` (the recipient hash the logs carry) and `trace` (one event's fate).
Nothing here prints a recipient address unless asked to with `--show-addresses`.
"""
