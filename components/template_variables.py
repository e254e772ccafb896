"""Where each template prints which variables, and under which conditions: what the lanes check before a send.

SES accepts a templated send whose data lacks a variable and fails it later, asynchronously. At
deploy time each template version is read here into `VariableUses`: every top-level variable it
prints, with the `if`/`unless`/`each`/`with` conditions under which SES prints it. The catalog
carries that to the handlers, which evaluate it against each event's data
(`handlers.shared.required_variables`) and dead-letter an event that lacks one, naming it.
"""

from __future__ import annotations

from collections.abc import Iterable

from .handlebars import Block, Node, Param, Print, data_name, parse
from .handlers.shared.required_variables import Condition, State, Use, VariableUses

#: helper -> (state of its argument in which it renders its block, the one for its `{{else}}`)
_BRANCH_STATES: dict[str, tuple[State, State]] = {
    "if": (State.TRUTHY, State.FALSY),
    "unless": (State.FALSY, State.TRUTHY),
    "each": (State.HAS_ITEMS, State.NO_ITEMS),
    "with": (State.NON_EMPTY, State.EMPTY),
}
_INCLUDE_ZERO = {State.TRUTHY: State.NON_EMPTY, State.FALSY: State.EMPTY}
#: Helpers whose block renders with its argument (or each of its items) as the context.
SCOPE_CHANGING_HELPERS = frozenset({"each", "with"})


def branches(block: Block) -> tuple[Condition, Condition] | None:
    """The conditions under which a block renders its body, and its `{{else}}`.

    None when the block is not `if`, `unless`, `each` or `with` with one plain path argument
    (`{{#if x includeZero=true}}` counts as plain): the pre-send check does not follow it.
    """
    states = _BRANCH_STATES.get(block.helper)
    params = block.params
    if states is not None and block.helper in ("if", "unless") and dict(block.hash).get("includeZero") == "true":
        states = (_INCLUDE_ZERO[states[0]], _INCLUDE_ZERO[states[1]])
    if states is None or len(params) != 1 or not isinstance(params[0], str) or data_name(params[0]) is None:
        return None
    return Condition(params[0], states[0]), Condition(params[0], states[1])


def variable_uses(*parts: str, scoped: bool = False) -> VariableUses:
    """Where the template parts print top-level variables, with the conditions for each.

    A variable is printed where `{{name}}`, `{{{name}}}` or `{{name.part}}` stands in the top-level
    context, under the conditions of the `if`/`unless` branches around it. Inside `each` and `with`
    names are relative to the block's item, so they are not recorded, nor is the block's argument
    (Handlebars renders nothing for a missing list). Other blocks are not followed.

    Args:
        parts: template texts (subject, HTML, text).
        scoped: also record the variables whose content a block prints from inside (the argument
            of `each`, `with` or a block not followed) and helper-call arguments: every variable
            whose content can reach the output. For the subject's header-injection check; never
            needed in the data.

    Raises:
        TemplateSyntaxError: a part does not parse.
    """
    found: list[Use] = []
    for part in parts:
        _collect(parse(part), (), found, scoped=scoped)
    return VariableUses.of(found)


def _collect(nodes: Iterable[Node], when: tuple[Condition, ...], found: list[Use], *, scoped: bool) -> None:
    for node in nodes:
        if isinstance(node, Print):
            if not node.params and not node.hash:
                found.extend(Use(name, when) for name in _names((node.path,)))
            elif scoped:
                found.extend(Use(name, when) for name in _names((*node.params, *(v for _k, v in node.hash))))
        elif isinstance(node, Block):
            _collect_block(node, when, found, scoped=scoped)


def _collect_block(block: Block, when: tuple[Condition, ...], found: list[Use], *, scoped: bool) -> None:
    conditions = branches(block)
    if conditions is None:  # not followed: nothing inside is needed, but anything may be printed
        if scoped:
            found.extend(Use(name, when) for name in _names(block.params or (block.helper,)))
        return
    shown, hidden = conditions
    if block.helper not in SCOPE_CHANGING_HELPERS:
        _collect(block.body, _and(when, shown), found, scoped=scoped)
    elif scoped:
        found.extend(Use(name, _and(when, shown)) for name in _names((shown.path,)))
    _collect(block.inverse, _and(when, hidden), found, scoped=scoped)


def _names(paths: Iterable[Param]) -> list[str]:
    return [name for name in map(data_name, paths) if name is not None]


def _and(when: tuple[Condition, ...], condition: Condition) -> tuple[Condition, ...]:
    return when if condition in when else (*when, condition)
