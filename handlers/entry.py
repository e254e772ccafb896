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
