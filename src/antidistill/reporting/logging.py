"""One call that makes decisions visible: a stderr handler on the ``antidistill.events`` logger.

``logging.getLogger("antidistill.events")`` has no handler of its own, and plain uvicorn only
configures its ``uvicorn.*`` loggers, so without this the events go nowhere. Turn it on with
``ANTIDISTILL_LOG_EVENTS=true`` (the guard calls :func:`enable_event_logging` at start-up) or
call it yourself.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

EVENT_LOGGER = "antidistill.events"
_FORMAT = "%(asctime)s %(name)s %(message)s"


class _EventHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler we attached, so a second call (another Guard) adds no duplicate."""


def enable_event_logging(
    stream: TextIO | None = None, level: int = logging.INFO
) -> logging.Handler:
    """Log every decision event (one JSON line each) to ``stream``.

    ``stream`` defaults to stderr. Idempotent: the handler attached by an earlier call is
    returned (and pointed at ``stream`` when one is given). Events still propagate to the root
    logger, so an application that configures logging itself should not call this too.
    """
    logger = logging.getLogger(EVENT_LOGGER)
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    for handler in logger.handlers:
        if isinstance(handler, _EventHandler):
            if stream is not None:
                handler.setStream(stream)
            return handler
    handler = _EventHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
    return handler
