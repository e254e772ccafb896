"""How a handler module becomes Lambda's entry point: JSON logging at import, the handler built on first use.

Lambda imports only the function's own module (`handlers.templated`, say), in a process of its
own, so whatever that module leaves unconfigured stays so: every entry module makes its
`handler` with `lambda_handler`, which configures logging as the module is imported. The
handler itself (settings read from the environment, clients wired) is built on the first
invocation, not at import: tests and tools can import an entry module without a deployed
environment.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any

from . import log

#: What Lambda calls: (event, context) -> response.
Handler = Callable[[dict[str, Any], Any], Any]


def lambda_handler(build: Callable[[], Handler]) -> Handler:
    """Lambda's handler: logging configured now (unless the process did it already), `build()` run once, at
    the first invocation.

    A process that configured logging itself (the tests, the local system, the bench) keeps its setup.
    """
    if not log.is_configured():
        log.configure()
    built = functools.cache(build)

    def handler(event: dict[str, Any], context: Any) -> Any:
        return built()(event, context)

    return handler


def end_of_init(handler: Handler) -> Handler:
    """`handler`, once everything the init phase made is out of the cyclic garbage collector's reach.

    A function's import builds what it keeps for the container's life: botocore's modules, its
    clients' service models, endpoint rules and event hooks, our own modules. CPython's collector
    runs a full collection whenever the objects that survived collections grow by a quarter, and
    each one walks all of them, so during an import that loads botocore's data most of them are
    walked several times: freezing took a lane's init from 366 ms of CPU to 285 ms, side by side
    (bench/README.md, cold start). `gc.freeze()` moves every object alive now into the permanent
    generation, which collections skip (https://docs.python.org/3/library/gc.html#gc.freeze):
    `handlers.aws` freezes once botocore is imported, each entry module once its clients are made.
    The invocations' collections then walk only what the invocations make. What is frozen is never
    collected: it lives as long as the container anyway, and at both points a full collection finds
    almost no garbage to free (`gc.collect()` returned 0 there for the lanes and the status
    function, 5 objects once for the report), not worth the collection it would cost.
    """
    gc.freeze()
    return handler
