"""Run-time state every instance shares through the store: the mode, and the epoch.

The mode (``enforce``/``monitor``) can be switched from the admin API; each instance re-reads
it every ``MODE_REFRESH`` real seconds. The epoch is the deployment's first-request time per
fingerprint version (fan-out warm-up).
"""

from __future__ import annotations

import time

from antidistill.storage.base import Store

MODE_REFRESH = 5.0
MODES = ("enforce", "monitor")


class RuntimeState:
    def __init__(self, store: Store, mode: str, epoch_setting: str) -> None:
        """``epoch_setting`` names the epoch per fingerprint version: after an upgrade that
        changes the fingerprints every feature is new to the store, so the warm-up starts
        again instead of reading long-established templates as a sudden fan-out."""
        self.store = store
        self.epoch_setting = epoch_setting
        self.mode = mode
        self.epoch: float | None = None
        self._mode_checked = -1e18

    def due(self) -> bool:
        """Whether :meth:`sync` has anything to do (so the hot path can skip the call)."""
        return self.epoch is None or time.monotonic() - self._mode_checked >= MODE_REFRESH

    async def sync(self, now: float) -> None:
        """Re-read the mode when due, and the epoch until it is known."""
        # Real time, not the (possibly virtual) request clock: a replay must not re-read the
        # mode on every request.
        tick = time.monotonic()
        if tick - self._mode_checked >= MODE_REFRESH:
            await self.refresh_mode(tick)
        if self.epoch is None:
            await self.load_epoch(now)

    async def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError("mode must be 'enforce' or 'monitor'")
        await self.store.set_setting("mode", mode)
        self.mode = mode
        self._mode_checked = time.monotonic()

    async def refresh_mode(self, tick: float | None = None) -> None:
        self._mode_checked = time.monotonic() if tick is None else tick
        try:
            stored = await self.store.get_setting("mode")
        except Exception:  # the store's own failure policy applies on the hot path
            return
        if stored in MODES:
            self.mode = stored

    async def load_epoch(self, now: float) -> None:
        try:
            stored = await self.store.get_setting(self.epoch_setting)
            if stored is None:
                await self.store.set_setting(self.epoch_setting, repr(now))
                self.epoch = now
            else:
                self.epoch = float(stored)
        except Exception:
            # Storage trouble: leave the epoch unknown (fan-out stays quiet, as on a fresh
            # start) and read it again on the next request.
            self.epoch = None
