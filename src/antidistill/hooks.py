"""Host hooks: registration, loading by name, and calls that can never fail a request.

Every hook may be a plain function or a coroutine function. A hook that raises is logged
(rate-limited) and counted, and the request goes on as if the hook had returned ``None``.
Coroutine hooks are also bounded by ``hook_timeout``; plain functions run inline and must
be quick (they cannot be interrupted without a thread per call).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from antidistill.errors import ConfigurationError

if TYPE_CHECKING:
    from antidistill.guard import Guard

logger = logging.getLogger("antidistill")

T = TypeVar("T")
Hook = Callable[..., Any]


class HookRunner:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.errors: Counter[str] = Counter()
        self.timeouts: Counter[str] = Counter()
        self._last_log: dict[str, float] = {}

    def _report(self, name: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_log.get(name, -1e9) >= 10.0:
            self._last_log[name] = now
            # Only the exception type: messages can carry raw keys (KeyError('sk-...')).
            logger.warning("antidistill hook %s failed: %s (counted; request continues)",
                           name, type(exc).__name__)

    async def call(self, fn: Hook, *args: Any) -> Any:
        """Run one hook; return its result or None on error/timeout."""
        name = getattr(fn, "__qualname__", repr(fn))
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(_as_coro(result), self.timeout)
            return result
        except asyncio.TimeoutError as exc:
            self.timeouts[name] += 1
            self.errors[name] += 1
            self._report(name, exc)
        except Exception as exc:
            self.errors[name] += 1
            self._report(name, exc)
        return None

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


async def _as_coro(aw: Awaitable[T]) -> T:
    return await aw


def load_hooks(guard: Guard, specs: list[str]) -> None:
    """Call each ``"package.module:function"`` with the guard, so it can register hooks."""
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise ConfigurationError(f"ANTIDISTILL_HOOKS entry {spec!r} must be 'module:function'")
        try:
            module = importlib.import_module(module_name)
            register = getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"cannot load hook {spec!r}: {exc}") from exc
        register(guard)
