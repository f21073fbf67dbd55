"""``redis://`` (and ``rediss://``, ``redis+unix://``, ``redis+sentinel://``,
``redis+cluster://``, ``valkey*://``): the shared backend, on ``redis.asyncio``.

Key layout (``P`` is the configurable prefix; ``{...}`` is the Cluster hash tag, so every
logical entity lives in one slot and each Lua script touches one entity's keys only)::

    P:{b:<bucket>}            HASH {t, ts}            token bucket; TTL 2 x time to refill + 1 s
    P:{f:<feature>}:m         HASH {fs, fi, pr, cl}   first seen/identity, promoted, cluster
    P:{f:<feature>}:s:<n>     HLL                     short-window sub-bucket n (6 per window)
    P:{f:<feature>}:l:<n>     HLL                     long-window sub-bucket n (7 per window)
    P:{i:<identity>}:s        HASH {fs, ls, n, r, rt, cl, f:<field>}   TTL identity_ttl
    P:{i:<identity>}:v:<name> HLL                     distinct identity values, identity_ttl
    P:{c:<cluster>}:s         HASH {fs, ls, n, r, rt} TTL identity_ttl
    P:{c:<cluster>}:m         HLL                     member identities, identity_ttl
    P:{rank}:i / P:{rank}:c   ZSET                    top_k ranking, TTL identity_ttl
    P:{l:<list>}              ZSET member -> expiry   allow/deny/watch list: NO TTL
    P:{settings}              HASH                    settings: NO TTL

Every key has a TTL except lists and settings, which are persistent by design (member TTLs
in a list are wall-clock expiry scores, pruned lazily). Feature meta and long HLLs live for
``long_window`` (+ one sub-bucket); short HLLs for ``short_window`` (+ one sub-bucket). The
two ranking sets are global keys, i.e. one slot each: on Cluster the node that owns them
gets every risk update (only requests that *add* risk write there).

Scripts get an entity's hash-tagged *base* key (``P:{f:<feature>}``, ``P:{i:<identity>}``,
...) and derive its other keys themselves (the feature script builds its 13 sub-window HLL
keys from the current sub-bucket indexes), so the derived keys share the slot of the declared
one. On standalone Redis a request's features, buckets, links and each list's members go in
one multi-key script call each; on Cluster, where every entity is its own slot, one call per
key.

Hot path: ``observe`` is one round trip (identity script, feature script, one list script
per list that exists, cached clusters); a second one follows only when a feature or the
identity points to a cluster the caller did not pass in ``ObserveBatch.clusters``. List
checks go only to lists that exist: which do is read (``EXISTS``) at most every
``LIST_REFRESH`` seconds; a list another instance creates counts here within that interval.
``apply`` is one round trip (bucket script, identity and cluster risk scripts, feature
links); on Cluster the ranking ZADDs, which live in another slot, follow in a second one when
risk was added. The writes after a response (the settlement's charges, continuity's answer
records: ``defer_buckets``, ``defer_list_add``) take no round trip of their own: they are
queued and written in front of the next round trip's commands (see
:mod:`antidistill.storage.deferred`; on Cluster with a round trip to their own node).
Direct list additions started in the same event-loop turn share one round trip, and bucket
calls started while one is pending join it. ``round_trips`` counts sequential round trips;
``slot_batches`` the distinct slots they hit.

A round trip's commands are packed by hiredis, written to one connection at once and their
replies read in order from hiredis's reader, under one timeout (redis-py's pipeline without
its per-command bookkeeping, its pure-Python async packer and its per-reply timeout);
standalone stores keep their connections checked out between calls. On Cluster the commands
are grouped by the node that owns their slot (the slot of each key cached), every node is
written, then each one's replies read (one latency, no task per node); a command answered
MOVED/ASK/TRYAGAIN was not executed and goes again through redis-py's cluster pipeline,
which follows the redirection and refreshes the slot table.

Scripts are redis-py ``Script`` objects (their SHA and text); they are called as EVALSHA and,
after a NOSCRIPT (server restart, ``SCRIPT FLUSH``, failover), loaded and re-sent for the
failed commands only.

Every time is the caller's ``now`` (virtual clocks work; Redis ``TIME`` is never used),
except list expiry, which is wall-clock because ``list_add`` takes no ``now``.
"""

from __future__ import annotations

import asyncio
import math
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.crc import key_slot

from antidistill.errors import ConfigurationError, StorageError
from antidistill.storage.base import (
    LONG_SUBBUCKETS,
    SHORT_SUBBUCKETS,
    ApplyBatch,
    BucketResult,
    BucketSpec,
    ClusterStats,
    Done,
    FeatureStats,
    IdentityStats,
    ObserveBatch,
    ObserveResult,
    RankedEntry,
    StateConfig,
    Store,
    decayed,
    window_bucket,
)
from antidistill.storage.deferred import WriteBehind
from antidistill.storage.memory import risk_from_score

if sys.version_info >= (3, 11):
    from asyncio import timeout as _timeout
else:  # redis-py depends on async-timeout before 3.11
    from async_timeout import timeout as _timeout  # type: ignore[import-not-found,unused-ignore]

_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # the redis extra installs it; without it, redis-py's packer
    _hiredis_pack = None

_HiredisParser: Any = None  # redis-py's hiredis parser class, when it has the layout we read
_NOT_ENOUGH: Any = None  # its reader's "no complete reply yet" marker
try:
    from redis._parsers import hiredis as _rp_hiredis

    _HiredisParser, _NOT_ENOUGH = _rp_hiredis._AsyncHiredisParser, _rp_hiredis.NOT_ENOUGH_DATA
    if not all(hasattr(_HiredisParser, a) for a in ("read_from_socket", "handle_push_response")):
        _HiredisParser = None
except (ImportError, AttributeError):  # another layout: replies through the parser's API
    pass

_PREFIX_RE = re.compile(r"[A-Za-z0-9_.\-:]{1,64}")
# Seconds between reads of which allow/deny/watch lists exist (see _lists_to_check).
LIST_REFRESH = 5.0
_DRIVER_ERRORS = (rexc.RedisError, OSError, asyncio.TimeoutError)
# Cluster replies that mean "not executed here, ask another node"
_REDIRECTS = (rexc.MovedError, rexc.AskError, rexc.TryAgainError)


async def reset_pool(client: Any) -> None:
    """Disconnect the idle pooled connections of a redis-py client (standalone, Sentinel or
    Cluster); each reconnects lazily on its next checkout. Connections in use are left to
    their own call (which fails and disconnects itself if the socket is dead)."""
    try:
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            await pool.disconnect(inuse_connections=False)
            return
        for node in client.get_nodes():
            drop = getattr(node, "disconnect_free_connections", None)
            if drop is not None:
                await drop()
    except _DRIVER_ERRORS:
        pass


def _lua(name: str) -> str:
    return resources.files("antidistill.storage").joinpath(f"resources/{name}.lua").read_text()


def _num(x: float) -> str:
    return repr(float(x))


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _float(x: Any, default: float = 0.0) -> float:
    return default if x is None else float(x)


class _Cmd:
    """One queued command: a raw command, or a script with keys and args."""

    __slots__ = ("args", "keys", "script")

    def __init__(
        self, script: AsyncScript | None, keys: Sequence[str], args: Sequence[Any]
    ) -> None:
        self.script = script
        self.keys = keys
        self.args = args

    def queue(self, pipe: Any) -> None:
        if self.script is None:
            pipe.execute_command(*self.args)
        else:
            pipe.execute_command("EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args)

    def slot_key(self) -> str | None:
        if self.script is not None:
            return self.keys[0] if self.keys else None
        return str(self.args[1]) if len(self.args) > 1 else None


class _Batch:
    """Commands for one connection, written at once and answered in order: what redis-py's
    non-transactional pipeline does, without its per-command bookkeeping. Replies are raw
    (no response callbacks); error replies are returned in place, like
    ``execute(raise_on_error=False)``."""

    __slots__ = ("commands",)

    def __init__(self) -> None:
        self.commands: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any) -> None:
        self.commands.append(args)

    async def send(self, conn: Any) -> list[Any]:
        if not conn.is_connected or conn.health_check_interval:
            await _ready(conn)
        async with _timeout(conn.socket_timeout):
            writer = conn._writer
            writer.write(_packed(conn, self.commands))
            await writer.drain()  # returns at once unless the socket buffer is full
            return await _read(conn, len(self.commands))


# A round trip talks to the connection's stream and parser directly: redis-py's
# send_packed_command and read_response cost a task (wait_for), a timeout and a health probe
# per command, and its async pack_command is pure Python even when hiredis is installed.
def _packed(conn: Any, commands: Sequence[tuple[Any, ...]]) -> bytes:
    if _hiredis_pack is not None:
        return b"".join([_hiredis_pack(cmd) for cmd in commands])
    return b"".join(conn.pack_commands(commands))


async def _ready(conn: Any) -> None:
    """Connect a connection that is not (its first use, or after a failure); otherwise run
    redis-py's periodic health check when the client configured one."""
    if not conn.is_connected:
        await conn.connect()
    elif conn.health_check_interval:
        await conn.check_health()


async def _write(conn: Any, data: bytes) -> None:
    writer = conn._writer
    writer.write(data)
    await writer.drain()  # returns at once unless the socket buffer is full


async def _read(conn: Any, n: int) -> list[Any]:
    """``n`` replies in order; an error reply is returned as its exception, in place."""
    parser: Any = conn._parser
    if type(parser) is not _HiredisParser:
        read = parser.read_response
        return [await read() for _ in range(n)]
    # on hiredis: the replies straight from its C reader (one socket read for most round
    # trips) instead of a coroutine per reply; a RESP3 push message goes to the parser's
    # handler and is not a reply, as in its read_response
    gets, push = parser._reader.gets, getattr(parser, "_hiredis_PushNotificationType", None)
    out: list[Any] = []
    while len(out) < n:
        reply = gets()
        if reply is _NOT_ENOUGH:
            await parser.read_from_socket()
        elif push is not None and type(reply) is push:
            await parser.handle_push_response(reply)
        else:
            out.append(reply)
    return out


class _Turn:
    """Writes started in one event-loop turn, sent in one round trip by ``flush`` (a task
    that first yields once, so that the others can join): list additions (grouped per
    list) and commands whose replies their caller reads at its own offset in ``cmds``.
    A failure fails every caller of the turn; none is dropped silently."""

    __slots__ = ("adds", "cmds", "flush")

    def __init__(self, flush: Callable[[_Turn], Awaitable[list[Any]]]) -> None:
        self.adds: list[tuple[str, str, str]] = []  # (list key, expiry score, member)
        self.cmds: list[_Cmd] = []
        self.flush: asyncio.Future[list[Any]] = asyncio.ensure_future(flush(self))
        # retrieved here too, so a write whose callers all timed out logs nothing
        self.flush.add_done_callback(lambda f: f.cancelled() or f.exception())


class _Connections:
    """Connections a standalone store keeps checked out of redis-py's pool between calls.

    A pool checkout costs about as much client CPU as the round trip itself (a lock, usage
    counters, a readiness probe of the socket); a connection whose last call read every
    reply is ready by construction. One that failed or was cancelled mid-call is
    disconnected and handed back to the pool.
    """

    KEEP = 32  # idle connections kept; more concurrent calls check out of the pool

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.idle: list[Any] = []
        # half of a bounded pool at most: the client's own calls (script loads, pings,
        # scans) check out of the same pool
        self.keep = min(self.KEEP, int(getattr(pool, "max_connections", 2**31)) // 2)

    async def run(self, batch: _Batch) -> list[Any]:
        conn = self.idle.pop() if self.idle else await self.pool.get_connection()
        try:
            out = await batch.send(conn)
        except BaseException:
            # unread replies (a timeout, a cancellation) must not reach the next call
            await conn.disconnect()
            await self.pool.release(conn)
            raise
        if len(self.idle) < self.keep:
            self.idle.append(conn)
        else:
            await self.pool.release(conn)
        return out

    async def drop(self) -> None:
        """Disconnect and hand back every idle connection (outage recovery, close)."""
        idle, self.idle = self.idle, []
        for conn in idle:
            try:
                await conn.disconnect()
            finally:
                await self.pool.release(conn)


def _no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


class RedisStore(Store):
    """:class:`Store` on standalone Redis / Valkey (TCP, TLS, unix socket, Sentinel)."""

    cluster_mode: ClassVar[bool] = False

    def __init__(
        self,
        client: Any,
        config: StateConfig | None = None,
        *,
        prefix: str = "antidistill",
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config)
        if not _PREFIX_RE.fullmatch(prefix):
            raise ConfigurationError(
                "storage prefix must be 1-64 characters of [A-Za-z0-9_.-:] (no braces)"
            )
        self.client = client
        self.prefix = prefix
        self._wall = wall_clock
        # Lists known to exist (None: unknown, check every list), re-read every
        # LIST_REFRESH seconds; see _lists_to_check.
        self._lists_present: set[str] | None = None
        self._lists_known: set[str] = set()
        self._lists_local: set[str] = set()  # lists this instance added to: always checked
        self._lists_read = -math.inf
        self.round_trips = 0
        self.slot_batches = 0
        self._consts: tuple[Any, ...] = ()
        self._turn: _Turn | None = None  # writes of this event-loop turn (see _Turn)
        self._conns: _Connections | None = None  # standalone only
        self._slots: dict[str, int] = {}  # Cluster: slot per key, see RedisClusterStore._slot
        self._behind = WriteBehind(self._flush_deferred)
        # encoded (capacity, refill, debt limit) per bucket shape, see _bucket_cmds
        self._shapes: dict[tuple[float, float, float], tuple[str, str, str]] = {}
        self._consts_for: StateConfig | None = None
        reg = client.register_script
        self._bucket = reg(_lua("token_bucket"))
        self._feature = reg(_lua("feature_observe"))
        self._link = reg(_lua("feature_link"))
        self._ident_observe = reg(_lua("identity_observe"))
        self._risk = reg(_lua("risk_update"))
        self._scores = reg(_lua("list_scores"))
        self._cread = reg(_lua("cluster_read"))
        self._scripts: tuple[AsyncScript, ...] = (
            self._bucket,
            self._feature,
            self._link,
            self._ident_observe,
            self._risk,
            self._scores,
            self._cread,
        )

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_uri(
        cls,
        uri: str,
        config: StateConfig | None = None,
        *,
        prefix: str = "antidistill",
        socket_timeout: float = 0.1,
        **options: Any,
    ) -> RedisStore:
        """Build from a storage URI (see :func:`antidistill.storage.storage_from_uri`)."""
        parts = urlsplit(uri)
        scheme = parts.scheme.replace("valkey", "redis")
        kwargs: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": options.pop("socket_connect_timeout", socket_timeout),
            "retry": _no_retry(),
            "decode_responses": True,
            **options,
        }
        if scheme == "redis+sentinel":
            return cls(_sentinel_client(parts, kwargs), config, prefix=prefix)
        if scheme == "redis+unix":
            url = "unix://" + uri.split("://", 1)[1]
        else:
            url = scheme + "://" + uri.split("://", 1)[1]
        try:
            client = Redis.from_url(url, **kwargs)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"invalid Redis storage URI: {exc}") from None
        return cls(client, config, prefix=prefix)

    # -- keys --------------------------------------------------------------------------------
    def _key(self, kind: str, key: str, part: str = "") -> str:
        base = f"{self.prefix}:{{{kind}:{key}}}"
        return f"{base}:{part}" if part else base

    def _rank_key(self, kind: str) -> str:
        return f"{self.prefix}:{{rank}}:{kind}"

    # -- execution ---------------------------------------------------------------------------
    async def _send(self, cmds: Sequence[_Cmd]) -> list[Any]:
        self.round_trips += 1
        self.slot_batches += 1
        batch = _Batch()
        for cmd in cmds:
            cmd.queue(batch)
        if self._conns is None:
            self._conns = _Connections(self.client.connection_pool)
        return await self._conns.run(batch)

    def _execute(self, cmds: Sequence[_Cmd], *, flush: bool = False) -> Awaitable[list[Any]]:
        """Send ``cmds`` in one round trip, behind the queued writes that ride with it (see
        :mod:`antidistill.storage.deferred`); ``flush``: send the queued writes alone.
        (A plain function: with nothing queued or in flight, the round trip's own
        coroutine is all there is.)"""
        behind = self._behind
        if not (behind.queue or behind.inflight) or not (cmds or flush):
            return self._round(cmds)
        return self._execute_riding(cmds)

    async def _execute_riding(self, cmds: Sequence[_Cmd]) -> list[Any]:
        behind = self._behind
        if behind.inflight and cmds:
            await behind.settled(self._marks(cmds))
        riders = behind.take(self._rides_with(cmds)) if behind.queue else []
        if not riders:
            return await self._round(cmds) if cmds else []
        token = behind.sending(riders)
        try:
            results = await self._round([cmd for cmd, _w in riders] + list(cmds), own=False)
        except BaseException as exc:
            behind.failed(riders, exc)
            raise
        finally:
            behind.sent(token)
        behind.answered(riders, results[: len(riders)])
        own = results[len(riders) :]
        _raise_errors(own)
        return own

    async def _round(self, cmds: Sequence[_Cmd], *, own: bool = True) -> list[Any]:
        """One round trip (and the re-send of scripts the server did not have); error
        replies raise when ``own``, else they are returned in place."""
        if not cmds:
            return []
        try:
            results = await self._send(cmds)
            missing = [i for i, r in enumerate(results) if isinstance(r, rexc.NoScriptError)]
            if missing:
                for script in {id(cmds[i].script): cmds[i].script for i in missing}.values():
                    assert script is not None
                    script.sha = await self.client.script_load(script.script)
                retried = await self._send([cmds[i] for i in missing])
                for i, r in zip(missing, retried, strict=True):
                    results[i] = r
        except _DRIVER_ERRORS as exc:
            raise StorageError(f"redis: {type(exc).__name__}: {exc}") from exc
        if own:
            _raise_errors(results)
        return results

    def _rides_with(self, cmds: Sequence[_Cmd]) -> Callable[[_Cmd], bool] | None:
        """Which queued commands may ride with ``cmds`` (None: all; standalone has one
        server)."""
        return None

    def _marks(self, cmds: Sequence[_Cmd]) -> set[str]:
        """What ``cmds`` read or write, in the terms of :meth:`_defer` marks: keys, and for
        list checks key and member (continuity's answers share one list)."""
        out: set[str] = set()
        for cmd in cmds:
            if cmd.script is self._scores:
                out.update(f"{cmd.keys[0]}\0{m}" for m in cmd.args)
            elif cmd.script is not None:
                out.update(cmd.keys)
            elif len(cmd.args) > 1:
                out.add(str(cmd.args[1]))
        return out

    # -- deferred writes (after a response) -------------------------------------------------
    async def defer_buckets(self, specs: Sequence[BucketSpec], now: float, done: Done) -> bool:
        """Queue the bucket operations ``specs`` (the settlement's forced charges: nobody
        reads their results) to go with the next round trip; ``done`` hears the outcome.
        Invalid specs raise here, as :meth:`buckets` would. Always True (queued)."""
        cmds = self._bucket_cmds(specs, now)
        self._behind.add(cmds, frozenset(k for c in cmds for k in c.keys), done)
        return True

    async def defer_list_add(self, name: str, members: Sequence[str], ttl: float | None,
                             done: Done) -> bool:
        """Queue the addition of ``members`` to list ``name`` (as :meth:`list_add`, one
        write for all of them); ``done`` hears the outcome. Always True (queued)."""
        self._lists_local.add(name)
        if self._lists_present is not None:
            self._lists_present.add(name)
        key = self._key("l", name)
        expires = "+inf" if ttl is None else _num(self._wall() + ttl)
        pairs = [x for m in members for x in (expires, m)]
        cmds = [_Cmd(None, (), ("ZADD", key, *pairs)),
                _Cmd(None, (), ("ZREMRANGEBYSCORE", key, "-inf", _num(self._wall())))]
        self._behind.add(cmds, frozenset(f"{key}\0{m}" for m in members), done)
        return True

    async def _flush_deferred(self) -> None:
        await self._execute((), flush=True)

    async def flush(self) -> None:
        """Send the queued writes now and wait for those under way (shutdown)."""
        await self._behind.drain()

    # -- script calls ------------------------------------------------------------------------
    def _batched(
        self, script: AsyncScript, keys: Sequence[str], shared: Sequence[Any],
        each: Sequence[Sequence[Any]] | None = None,
    ) -> list[_Cmd]:
        """One call of a multi-key script for ``keys`` (per-key arguments ``each`` after the
        ``shared`` ones); on Cluster one call per key, since each key is its own slot."""
        if not keys:
            return []
        if self.cluster_mode:
            if each is None:
                return [_Cmd(script, (k,), shared) for k in keys]
            return [_Cmd(script, (k,), [*shared, *e]) for k, e in zip(keys, each, strict=True)]
        args = list(shared) if each is None else [*shared, *(x for e in each for x in e)]
        return [_Cmd(script, keys, args)]

    @staticmethod
    def _unbatched(results: Sequence[Any], width: int) -> list[Sequence[Any]]:
        """The per-key rows of the results of :meth:`_batched` calls (``width`` values each)."""
        if not results:
            return []
        flat = results[0] if len(results) == 1 else [x for r in results for x in r]
        return [flat[i : i + width] for i in range(0, len(flat), width)]

    def _bucket_cmds(self, specs: Sequence[BucketSpec], now: float) -> list[_Cmd]:
        each: list[tuple[Any, ...]] = []
        shapes = self._shapes
        for spec in specs:
            shape = (spec.capacity, spec.refill_per_second, spec.debt_limit)
            enc = shapes.get(shape)
            if enc is None:
                enc = _bucket_shape(spec)
                if len(shapes) >= 1024:  # a few budget shapes recur; bounded all the same
                    shapes.clear()
                shapes[shape] = enc
            cap, refill, debt = enc
            each.append((cap, refill, _num(spec.cost), int(spec.force), int(spec.peek), debt))
        keys = [self._key("b", spec.key) for spec in specs]
        return self._batched(self._bucket, keys, (_num(now), _ms(self.config.identity_ttl)),
                             each)

    def _bucket_results(self, raw: Sequence[Any]) -> list[BucketResult]:
        return [
            BucketResult(bool(int(r[0])), float(r[1]), float(r[2]), float(r[3]))
            for r in self._unbatched(raw, 4)
        ]

    def _feature_cmds(self, features: Sequence[str], identity: str, now: float) -> list[_Cmd]:
        cfg = self.config
        shared = (
            identity,
            _num(now),
            window_bucket(now, cfg.short_window, SHORT_SUBBUCKETS),
            window_bucket(now, cfg.long_window, LONG_SUBBUCKETS),
            *self._feature_consts(),
        )
        return self._batched(self._feature, [self._key("f", f) for f in features], shared)

    def _feature_consts(self) -> tuple[Any, ...]:
        """Sub-bucket counts and TTLs of the feature script, encoded once per config."""
        cfg = self.config
        if self._consts_for is not cfg:
            short_ttl = cfg.short_window * (1 + 1 / SHORT_SUBBUCKETS)
            long_ttl = cfg.long_window * (1 + 1 / LONG_SUBBUCKETS)
            self._consts = (SHORT_SUBBUCKETS, LONG_SUBBUCKETS, _ms(long_ttl), _ms(short_ttl),
                            _ms(long_ttl), self._cluster_prefix())
            self._consts_for = cfg
        return self._consts

    def _cluster_prefix(self) -> str:
        """What the observe scripts prepend to a cluster id (then ``}``) to read its state in
        the same call: standalone only, since on Cluster it is another slot."""
        return "" if self.cluster_mode else f"{self.prefix}:{{c:"

    def _risk_cmd(
        self,
        kind: str,
        key: str,
        now: float,
        *,
        touch: bool,
        risk_add: float,
        cluster: str | None = None,
        member: str | None = None,
        fields: Mapping[str, float] | None = None,
    ) -> _Cmd:
        cfg = self.config
        keys = [self._key(kind, key)]
        if not self.cluster_mode:  # on Cluster the ranking set is another slot: see apply
            keys.append(self._rank_key(kind))
        args: list[Any] = [
            _num(now),
            int(touch),
            _num(risk_add),
            cluster or "",
            member or "",
            _num(cfg.risk_half_life),
            _ms(cfg.identity_ttl),
            cfg.top_k,
            key,
        ]
        for name, value in (fields or {}).items():
            args += [name, _num(value)]
        return _Cmd(self._risk, keys, args)

    def _cluster_read_cmds(self, clusters: Sequence[str]) -> list[_Cmd]:
        return self._batched(self._cread, [self._key("c", c) for c in clusters], ())

    def _cluster_stats(self, raw: Sequence[Any] | None, now: float) -> ClusterStats | None:
        """From the cluster script's ``fs, ls, r, rt, members`` (None: not read)."""
        if not raw or raw[0] is None:
            return None
        fs, ls, r, rt, members = raw
        risk = decayed(_float(r), _float(rt, now), now, self.config.risk_half_life)
        return ClusterStats(risk, int(members), float(fs), float(ls or fs))

    def _identity_stats(
        self, flat: Sequence[Any], values: Mapping[str, int], now: float
    ) -> IdentityStats | None:
        h = dict(zip(flat[::2], flat[1::2], strict=True))
        if "fs" not in h:
            return None
        fields = {k[2:]: float(v) for k, v in h.items() if k.startswith("f:")}
        return IdentityStats(
            first_seen=float(h["fs"]),
            last_seen=float(h.get("ls") or h["fs"]),
            requests=int(h.get("n", 0)),
            risk=decayed(
                _float(h.get("r")), _float(h.get("rt"), now), now, self.config.risk_half_life
            ),
            cluster=h.get("cl") or None,
            values=values,
            fields=fields,
        )

    # -- Store API ---------------------------------------------------------------------------
    async def observe(self, batch: ObserveBatch, now: float) -> ObserveResult:
        """See :meth:`Store.observe`."""
        cfg = self.config
        values_in = batch.identity_values
        ident_args: list[Any] = [_ms(cfg.identity_ttl), self._cluster_prefix()]
        for n, v in values_in.items():
            ident_args += [n, v]
        cmds = [_Cmd(self._ident_observe, (self._key("i", batch.identity),), ident_args)]
        features = list(dict.fromkeys(batch.features))
        fcmds = self._feature_cmds(features, batch.identity, now)
        cmds += fcmds
        checks = await self._lists_to_check(batch.list_checks)
        by_list: dict[str, list[str]] = {}
        for name, m in checks:
            by_list.setdefault(name, []).append(m)
        cmds += [_Cmd(self._scores, (self._key("l", name),), members)
                 for name, members in by_list.items()]
        wanted = list(dict.fromkeys(batch.clusters))
        ccmds = self._cluster_read_cmds(wanted)
        cmds += ccmds
        res = await self._execute(cmds)

        flat, counts, icluster = res[0]
        values = {n: int(c) for n, c in zip(values_in, counts, strict=True)}
        istats = self._identity_stats(flat, values, now) or IdentityStats(
            now, now, 0, 0.0, None, values, {}
        )
        read: dict[str, Any] = {}  # cluster states the observe scripts read (standalone)
        if istats.cluster:
            read[istats.cluster] = icluster
        fstats = _feature_stats(features, res[1 : 1 + len(fcmds)], read)
        pos = 1 + len(fcmds)
        listed = self._listed(by_list, res[pos : pos + len(by_list)])
        pos += len(by_list)
        clusters: dict[str, ClusterStats] = {}
        for cid, raw in zip(wanted, self._unbatched(res[pos : pos + len(ccmds)], 5),
                            strict=True):
            if (cs := self._cluster_stats(raw, now)) is not None:
                clusters[cid] = cs
        extra = [c for c in read if c not in clusters and c not in wanted]
        if self.cluster_mode and extra:
            # clusters discovered in this round trip cost a second one (another slot)
            more = await self._execute(self._cluster_read_cmds(extra))
            read.update(zip(extra, self._unbatched(more, 5), strict=True))
        for cid in extra:
            if (cs := self._cluster_stats(read[cid], now)) is not None:
                clusters[cid] = cs
        return ObserveResult(istats, fstats, clusters, listed)

    def _listed(
        self, by_list: Mapping[str, Sequence[str]], results: Sequence[Any]
    ) -> frozenset[tuple[str, str]]:
        """The ``(list, member)`` checks whose member is listed and unexpired."""
        wall = self._wall()
        return frozenset(
            (name, m)
            for (name, members), scores in zip(by_list.items(), results, strict=True)
            for m, score in zip(members, scores, strict=True)
            if score is not None and float(score) > wall
        )

    async def apply(self, batch: ApplyBatch, now: float) -> list[BucketResult]:
        """See :meth:`Store.apply`."""
        cfg = self.config
        cmds = self._bucket_cmds(batch.buckets, now)
        nb = len(cmds)
        cmds.append(
            self._risk_cmd(
                "i",
                batch.identity,
                now,
                touch=batch.touch,
                risk_add=batch.risk_add,
                cluster=batch.cluster,
                fields=batch.fields,
            )
        )
        if batch.cluster is not None:
            cmds.append(
                self._risk_cmd(
                    "c",
                    batch.cluster,
                    now,
                    touch=True,
                    risk_add=batch.cluster_risk_add,
                    member=batch.identity,
                )
            )
            ttl = _ms(cfg.long_window * (1 + 1 / LONG_SUBBUCKETS))
            links = [self._key("f", f) for f in dict.fromkeys(batch.link_features)]
            cmds += self._batched(self._link, links, (batch.cluster, _num(now), ttl))
        # Mature identities per feature (signals.spread): an HLL per feature, long-window TTL.
        mature_ttl = _ms(cfg.long_window)
        for f in dict.fromkeys(batch.mature_features):
            key = self._key("f", f, "mt")
            cmds += [_Cmd(None, (), ("PFADD", key, batch.identity)),
                     _Cmd(None, (), ("PEXPIRE", key, mature_ttl))]
        res = await self._execute(cmds)
        if self.cluster_mode:
            ranked = [("i", batch.identity, res[nb])]
            if batch.cluster is not None:
                ranked.append(("c", batch.cluster, res[nb + 1]))
            await self._rank_followup(ranked, [batch.risk_add, batch.cluster_risk_add])
        return self._bucket_results(res[:nb]) if nb else []

    async def _rank_followup(
        self, ranked: Iterable[tuple[str, str, Sequence[Any]]], adds: Sequence[float]
    ) -> None:
        cmds: list[_Cmd] = []
        ttl = _ms(self.config.identity_ttl)
        for (kind, key, (_risk, score)), add in zip(ranked, adds, strict=False):
            if not add:
                continue
            rk = self._rank_key(kind)
            if score is None:
                cmds.append(_Cmd(None, (), ("ZREM", rk, key)))
                continue
            cmds += [
                _Cmd(None, (), ("ZADD", rk, score, key)),
                _Cmd(None, (), ("ZREMRANGEBYRANK", rk, 0, -(self.config.top_k + 1))),
                _Cmd(None, (), ("PEXPIRE", rk, ttl)),
            ]
        await self._execute(cmds)

    async def buckets(self, specs: Sequence[BucketSpec], now: float) -> list[BucketResult]:
        """See :meth:`Store.buckets`. Started while a list addition of this event-loop turn
        is pending (the settlement next to continuity's answer record), the buckets share
        its round trip."""
        cmds = self._bucket_cmds(specs, now)
        turn = self._turn
        if turn is None:
            return self._bucket_results(await self._execute(cmds))
        start = len(turn.cmds)
        turn.cmds += cmds
        res = await asyncio.shield(turn.flush)
        return self._bucket_results(res[start : start + len(cmds)])

    async def _lists_to_check(
        self, checks: Sequence[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """The checks against lists that may have members.

        Most deployments leave most of the allow/deny/watch lists empty, and each check is one
        command per request. So which lists exist is read (one ``EXISTS`` per list, one round
        trip) at most every ``LIST_REFRESH`` seconds, and checks against the others are
        skipped. A list created through this instance counts at once; one created through
        another instance is seen within ``LIST_REFRESH`` seconds (as a run-time mode switch).
        """
        if not checks:
            return []
        tick = time.monotonic()
        if tick - self._lists_read >= LIST_REFRESH:
            self._lists_read = tick
            names = sorted({name for name, _ in checks} | (self._lists_present or set()))
            try:
                found = await self._execute(
                    [_Cmd(None, (), ("EXISTS", self._key("l", name))) for name in names])
            except StorageError:
                self._lists_present = None  # unknown: check them all, ask again next time
            else:
                self._lists_present = {n for n, e in zip(names, found, strict=True) if e}
                self._lists_present |= self._lists_local
                self._lists_known = set(names)
        present, known = self._lists_present, self._lists_known
        if present is None:
            return list(checks)
        # A list name not asked about yet is checked until the next refresh reads it.
        return [c for c in checks if c[0] in present or c[0] not in known]

    async def list_add(self, name: str, member: str, ttl: float | None = None) -> None:
        """Add ``member`` to list ``name`` for ``ttl`` seconds (wall clock) or for good.

        Additions started in the same event-loop turn (e.g. the continuity records of one
        answer, gathered) share one round trip; each caller waits for it and sees its error.
        """
        self._lists_local.add(name)
        if self._lists_present is not None:
            self._lists_present.add(name)
        expires = "+inf" if ttl is None else _num(self._wall() + ttl)
        turn = self._open_turn()
        turn.adds.append((self._key("l", name), expires, member))
        # shielded: one caller's timeout must not cancel the others' write
        await asyncio.shield(turn.flush)

    def _open_turn(self) -> _Turn:
        turn = self._turn
        if turn is None:
            turn = self._turn = _Turn(self._flush_turn)
        return turn

    async def _flush_turn(self, turn: _Turn) -> list[Any]:
        await asyncio.sleep(0)  # let the other writes of this turn join
        self._turn = None
        by_key: dict[str, list[Any]] = {}
        for key, expires, member in turn.adds:
            by_key.setdefault(key, []).extend((expires, member))
        wall = _num(self._wall())
        cmds = list(turn.cmds)
        for key, pairs in by_key.items():
            cmds += [_Cmd(None, (), ("ZADD", key, *pairs)),
                     _Cmd(None, (), ("ZREMRANGEBYSCORE", key, "-inf", wall))]
        return await self._execute(cmds)

    async def list_remove(self, name: str, member: str) -> None:
        """Remove ``member`` from list ``name``."""
        await self._execute([_Cmd(None, (), ("ZREM", self._key("l", name), member))])

    async def list_members(self, name: str, limit: int = 1000) -> list[str]:
        """Up to ``limit`` unexpired members, soonest to expire first."""
        key = self._key("l", name)
        res = await self._execute(
            [
                _Cmd(
                    None,
                    (),
                    ("ZRANGEBYSCORE", key, f"({_num(self._wall())}", "+inf", "LIMIT", 0, limit),
                )
            ]
        )
        return list(res[0])

    async def get_setting(self, name: str) -> str | None:
        """A persisted setting, or None."""
        res = await self._execute([_Cmd(None, (), ("HGET", self._settings_key(), name))])
        return None if res[0] is None else str(res[0])

    async def set_setting(self, name: str, value: str | None) -> None:
        """Set (or with None, delete) a setting."""
        key = self._settings_key()
        cmd = ("HDEL", key, name) if value is None else ("HSET", key, name, value)
        await self._execute([_Cmd(None, (), cmd)])

    def _settings_key(self) -> str:
        return f"{self.prefix}:{{settings}}"

    async def _top(self, kind: str, n: int, now: float) -> list[RankedEntry]:
        if n <= 0:
            return []
        res = await self._execute(
            [_Cmd(None, (), ("ZREVRANGE", self._rank_key(kind), 0, n - 1, "WITHSCORES"))]
        )
        pairs = [(str(k), float(s)) for k, s in _pairs(res[0])]
        if not pairs:
            return []
        seen = await self._execute(
            [_Cmd(None, (), ("HGET", self._key(kind, k, "s"), "ls")) for k, _ in pairs]
        )
        hl = self.config.risk_half_life
        return [
            RankedEntry(k, risk_from_score(s, now, hl), float(ls))
            for (k, s), ls in zip(pairs, seen, strict=True)
            if ls is not None
        ]

    async def top_identities(self, n: int, now: float) -> list[RankedEntry]:
        """Identities by decayed risk, highest first (expired ones skipped)."""
        return await self._top("i", n, now)

    async def top_clusters(self, n: int, now: float) -> list[RankedEntry]:
        """Clusters by decayed risk, highest first (expired ones skipped)."""
        return await self._top("c", n, now)

    async def identity_state(self, identity: str, now: float) -> IdentityStats | None:
        """The identity's state (``values`` empty), without counting anything; or None."""
        res = await self._execute([_Cmd(None, (), ("HGETALL", self._key("i", identity, "s")))])
        raw = res[0]
        flat = [x for kv in raw.items() for x in kv] if isinstance(raw, dict) else list(raw)
        return self._identity_stats(flat, {}, now)

    async def cluster_state(self, cluster: str, now: float) -> ClusterStats | None:
        """The cluster's state, or None."""
        res = await self._execute(self._cluster_read_cmds([cluster]))
        return self._cluster_stats(self._unbatched(res, 5)[0], now)

    async def ping(self) -> bool:
        """True when the server answers PING."""
        try:
            return bool(await self.client.ping())
        except _DRIVER_ERRORS:
            return False

    async def reset_connections(self) -> None:
        """Disconnect the pool's idle connections (they reconnect on their next use)."""
        if self._conns is not None:
            await self._conns.drop()
        await reset_pool(self.client)

    async def keys(self) -> list[str]:
        """Every key under this store's prefix (SCAN; tests and admin, not the hot path)."""
        pattern = _glob_escape(self.prefix) + ":*"
        try:
            return [str(k) async for k in self.client.scan_iter(match=pattern, count=1000)]
        except _DRIVER_ERRORS as exc:
            raise StorageError(f"redis: {type(exc).__name__}: {exc}") from exc

    async def clear(self) -> None:
        """Delete every key under this store's prefix."""
        keys = await self.keys()
        for i in range(0, len(keys), 500):
            await self._execute([_Cmd(None, (), ("UNLINK", k)) for k in keys[i : i + 500]])

    async def close(self) -> None:
        """Send the queued writes (their callbacks hear how it went), then close the
        connection pool."""
        await self._behind.drain()
        try:
            if self._conns is not None:
                await self._conns.drop()
            await self.client.aclose()
        except _DRIVER_ERRORS:
            pass


class RedisClusterStore(RedisStore):
    """:class:`Store` on Redis / Valkey Cluster (``redis+cluster://h1:p1,h2:p2``)."""

    cluster_mode: ClassVar[bool] = True
    SLOT_CACHE: ClassVar[int] = 65536  # keys whose slot is remembered (then cleared)

    @classmethod
    def from_uri(
        cls,
        uri: str,
        config: StateConfig | None = None,
        *,
        prefix: str = "antidistill",
        socket_timeout: float = 0.1,
        **options: Any,
    ) -> RedisStore:
        """Build from ``redis+cluster://[user:pass@]h1:p1,h2:p2[?opts]``."""
        parts = urlsplit(uri)
        netloc = parts.netloc.rsplit("@", 1)
        creds, hosts = (netloc[0], netloc[1]) if len(netloc) == 2 else ("", netloc[0])
        nodes = [ClusterNode(h, p) for h, p in _host_ports(hosts, 6379)]
        if not nodes:
            raise ConfigurationError("redis+cluster:// needs at least one host:port")
        kwargs: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": options.pop("socket_connect_timeout", socket_timeout),
            "retry": _no_retry(),
            "decode_responses": True,
        }
        if creds:
            user, _, password = creds.partition(":")
            kwargs["username"] = unquote(user) or None
            kwargs["password"] = unquote(password) or None
        kwargs.update(_query_options(parts.query))
        kwargs.update(options)
        try:
            client = RedisCluster(startup_nodes=nodes, **kwargs)
        except (ValueError, TypeError, rexc.RedisError) as exc:
            raise ConfigurationError(f"invalid Redis Cluster storage URI: {exc}") from None
        return cls(client, config, prefix=prefix)

    async def _send(self, cmds: Sequence[_Cmd]) -> list[Any]:
        """The commands grouped by the node that owns their slot, one batch per node, the
        nodes in parallel (one latency). Commands a node redirects (the topology changed)
        go again through redis-py's cluster pipeline, which follows the redirection and
        refreshes the slot table; they were not executed, so nothing runs twice."""
        self.round_trips += 1
        client = self.client
        keys = [cmd.slot_key() for cmd in cmds]
        if None in keys:
            return await self._pipeline(cmds)
        if client._initialize:
            await client.initialize()
        slots = [self._slot(k) for k in keys]  # type: ignore[arg-type]
        self.slot_batches += len(set(slots))
        groups: dict[str, tuple[Any, list[int]]] = {}
        node_of = client.nodes_manager.get_node_from_slot
        for i, slot in enumerate(slots):
            node = node_of(slot)
            groups.setdefault(node.name, (node, []))[1].append(i)
        results: list[Any] = [None] * len(cmds)
        parts = [(node, [cmds[i] for i in idx]) for node, idx in groups.values()]
        done = await _node_round(parts)
        for (_node, idx), out in zip(groups.values(), done, strict=True):
            for i, r in zip(idx, [out] * len(idx) if isinstance(out, Exception) else out,
                            strict=True):
                results[i] = r
        moved = [i for i, r in enumerate(results) if isinstance(r, _REDIRECTS)]
        if moved:
            again = await self._pipeline([cmds[i] for i in moved])
            for i, r in zip(moved, again, strict=True):
                results[i] = r
        return results

    def _rides_with(self, cmds: Sequence[_Cmd]) -> Callable[[_Cmd], bool] | None:
        """Queued commands ride with ``cmds`` to the nodes ``cmds`` go to; the others wait
        for a round trip to their node (or the timer). All ride when the nodes are not
        known yet (``_send`` routes each command to its own node anyway)."""
        client = self.client
        keys = [cmd.slot_key() for cmd in cmds]
        if not keys or None in keys or client._initialize:
            return None
        # the slot table itself (primary first), not get_node_from_slot: a fifth of the
        # cost per key, and a stale entry only changes which round trip carries a write
        table: dict[int, list[Any]] = client.nodes_manager.slots_cache
        slot = self._slot
        try:
            nodes = {table[slot(k)][0].name for k in keys}  # type: ignore[arg-type]
        except (KeyError, IndexError):  # not covered: let _send sort it out
            return None

        def rides(cmd: _Cmd) -> bool:
            key = cmd.slot_key()
            owner = table.get(slot(key)) if key is not None else None
            return not owner or owner[0].name in nodes

        return rides

    def _slot(self, key: str) -> int:
        """The key's slot, cached: a request's base keys recur (its identity, features)."""
        slot = self._slots.get(key)
        if slot is None:
            if len(self._slots) >= self.SLOT_CACHE:
                self._slots.clear()
            slot = self._slots[key] = key_slot(key.encode())
        return slot

    async def _pipeline(self, cmds: Sequence[_Cmd]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for cmd in cmds:
            cmd.queue(pipe)
        return list(await pipe.execute(raise_on_error=False))

    async def ping(self) -> bool:
        """True when every node of the cluster answers PING."""
        try:
            return bool(await self.client.ping(target_nodes=RedisCluster.ALL_NODES))
        except _DRIVER_ERRORS:
            return False

    async def keys(self) -> list[str]:
        """Every key under this store's prefix, on every primary."""
        pattern = _glob_escape(self.prefix) + ":*"
        try:
            return [
                str(k)
                async for k in self.client.scan_iter(
                    match=pattern, count=1000, target_nodes=RedisCluster.PRIMARIES
                )
            ]
        except _DRIVER_ERRORS as exc:
            raise StorageError(f"redis: {type(exc).__name__}: {exc}") from exc


async def _node_round(
    parts: Sequence[tuple[Any, Sequence[_Cmd]]],
) -> list[list[Any] | Exception]:
    """One batch per node: every node written first, then each one's replies read, so the
    nodes work in parallel (one latency) without a task per node. A node that fails gives
    its exception in place of its replies; the others are still read, so their connections
    stay usable. A connection not read to the end (a failure, the timeout, a cancellation)
    is disconnected: unread replies must not reach the next call."""
    held: list[tuple[Any, Any]] = []
    clean: list[bool] = []
    outs: list[list[Any] | Exception] = []
    try:
        for node, _cmds in parts:
            held.append((node, node.acquire_connection()))
            clean.append(False)
        timeouts = [conn.socket_timeout for _node, conn in held]
        async with _timeout(None if None in timeouts else max(timeouts)):
            sent: list[Exception | None] = []
            for (_node, conn), (_, cmds) in zip(held, parts, strict=True):
                sent.append(await _write_batch(conn, cmds))
            for i, ((_node, conn), (_, cmds), err) in enumerate(zip(held, parts, sent,
                                                                       strict=True)):
                try:
                    if err is not None:
                        raise err
                    outs.append(await _read(conn, len(cmds)))
                    clean[i] = True
                except Exception as exc:  # in place, like the others' errors
                    outs.append(exc)
    finally:
        for (node, conn), ok in zip(held, clean, strict=True):
            if not ok:
                await conn.disconnect()
            node.release(conn)
    return outs


async def _write_batch(conn: Any, cmds: Sequence[_Cmd]) -> Exception | None:
    batch = _Batch()
    for cmd in cmds:
        cmd.queue(batch)
    try:
        await _ready(conn)
        await _write(conn, _packed(conn, batch.commands))
    except Exception as exc:  # the node's replies become this error
        return exc
    return None


def _bucket_shape(spec: BucketSpec) -> tuple[str, str, str]:
    """A bucket's capacity, refill and debt limit, checked and encoded for the script."""
    if not (spec.capacity > 0 and math.isfinite(spec.capacity)):
        raise ValueError("bucket capacity must be finite and > 0")
    if not (spec.refill_per_second >= 0 and math.isfinite(spec.refill_per_second)):
        raise ValueError("bucket refill_per_second must be finite and >= 0")
    debt = -1.0 if math.isinf(spec.debt_limit) else max(0.0, spec.debt_limit)
    return _num(spec.capacity), _num(spec.refill_per_second), _num(debt)


def _feature_stats(
    features: Sequence[str], results: Sequence[Any], read: dict[str, Any]
) -> dict[str, FeatureStats]:
    """The feature script's six values per feature, in order (counts are integer replies);
    the cluster states it read go into ``read``."""
    flat = results[0] if len(results) == 1 else [x for r in results for x in r]
    if len(flat) != 6 * len(features):
        raise StorageError("redis: feature script reply of unexpected length")
    out: dict[str, FeatureStats] = {}
    it = iter(flat)
    # one iterator six times: the values of one feature per step, without a slice each
    for f, short, long, fs, cl, cstate, mature in zip(features, it, it, it, it, it, it,
                                                      strict=True):
        if cl:
            read[cl] = cstate
            out[f] = FeatureStats(short, long, float(fs), cl, mature)
        else:
            out[f] = FeatureStats(short, long, float(fs), None, mature)
    return out


def _raise_errors(results: Sequence[Any]) -> None:
    for r in results:
        if isinstance(r, Exception):
            raise StorageError(f"redis: {type(r).__name__}: {r}") from r


def _pairs(raw: Any) -> list[tuple[Any, Any]]:
    if raw and isinstance(raw[0], (list, tuple)):
        return [(a, b) for a, b in raw]
    return list(zip(raw[::2], raw[1::2], strict=True))


def _glob_escape(s: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", s)


def _host_ports(hosts: str, default_port: int) -> list[tuple[str, int]]:
    out = []
    for item in filter(None, hosts.split(",")):
        if item.startswith("["):  # [ipv6]:port
            host, _, rest = item[1:].partition("]")
            port = rest.lstrip(":")
        else:
            host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        try:
            out.append((host, int(port) if port else default_port))
        except ValueError:
            raise ConfigurationError(f"invalid port in storage URI host list: {item!r}") from None
    return out


_INT_OPTIONS = {"max_connections", "db"}
_FLOAT_OPTIONS = {"socket_timeout", "socket_connect_timeout", "health_check_interval"}


def _query_options(query: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in parse_qsl(query):
        if k in _INT_OPTIONS:
            out[k] = int(v)
        elif k in _FLOAT_OPTIONS:
            out[k] = float(v)
        elif v.lower() in ("true", "false"):
            out[k] = v.lower() == "true"
        else:
            out[k] = v
    return out


def _sentinel_client(parts: Any, kwargs: dict[str, Any]) -> Any:
    """``redis+sentinel://[user:pass@]h:p,h:p/service_name[/db][?opts]`` -> master client."""
    netloc = parts.netloc.rsplit("@", 1)
    creds, hosts = (netloc[0], netloc[1]) if len(netloc) == 2 else ("", netloc[0])
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ConfigurationError("redis+sentinel:// needs a service name: .../service_name")
    service = unquote(path[0])
    if len(path) > 1:
        kwargs["db"] = int(path[1])
    if creds:
        user, _, password = creds.partition(":")
        kwargs["username"] = unquote(user) or None
        kwargs["password"] = unquote(password) or None
    kwargs.update(_query_options(parts.query))
    sentinel_kwargs = {
        "socket_timeout": kwargs["socket_timeout"],
        "socket_connect_timeout": kwargs["socket_connect_timeout"],
        "retry": _no_retry(),
    }
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        _host_ports(hosts, 26379), sentinel_kwargs=sentinel_kwargs, **kwargs
    )
    return sentinel.master_for(service)
