"""Shared fixtures.

Redis: the session starts its own servers when ``redis-server`` is on PATH (a standalone
server and a 3-master Cluster on free loopback ports, each in its own tmp dir, killed at
the end). ``ANTIDISTILL_TEST_REDIS_URL`` / ``ANTIDISTILL_TEST_REDIS_CLUSTER_URL`` point at
existing servers instead. Without ``redis-server``, tests marked ``redis`` /
``redis_cluster`` fail when ``CI`` is set and are skipped (with the reason) otherwise.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from antidistill.storage import MemoryStore, StateConfig, Store, storage_from_uri

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
REDIS_URL_ENV = "ANTIDISTILL_TEST_REDIS_URL"
REDIS_CLUSTER_URL_ENV = "ANTIDISTILL_TEST_REDIS_CLUSTER_URL"


# -- redis-server processes --------------------------------------------------------------------
def free_port() -> int:
    """A loopback TCP port free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too (both below 65536)."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _redis_cmd(port: int, *args: str, timeout: float = 0.5) -> str | None:
    """Send one inline command over a raw socket; the first reply line, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall((" ".join(args) + "\r\n").encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"$"):  # bulk string: read the body too
                size = int(data.split(b"\r\n", 1)[0][1:])
                while len(data.split(b"\r\n", 1)[1]) < size:
                    data += s.recv(65536)
                return data.split(b"\r\n", 1)[1][:size].decode()
            return data.split(b"\r\n", 1)[0].decode()
    except OSError:
        return None


@dataclass
class RedisServer:
    """One redis-server process on 127.0.0.1:``port`` with its own working dir."""

    port: int
    workdir: Path
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        assert REDIS_SERVER is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            "--logfile", str(self.workdir / "redis.log"),
            *self.extra,
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while _redis_cmd(self.port, "PING") != "+PONG":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{log}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process (SIGTERM, or SIGKILL to simulate a crash) and wait for it."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class RedisClusterHandle:
    """A test Redis Cluster: its URL and (when started here) its node processes."""

    url: str
    nodes: list[RedisServer] = field(default_factory=list)

    def wait_ok(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            infos = [_redis_cmd(n.port, "CLUSTER", "INFO") or "" for n in self.nodes]
            if all("cluster_state:ok" in i for i in infos):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ok: {infos}")
            time.sleep(0.05)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def redis_unavailable(what: str) -> None:
    """Fail under CI, skip (loudly) elsewhere."""
    msg = (
        f"{what}: redis-server is not on PATH (apt-get install redis-server) and "
        f"{REDIS_URL_ENV}/{REDIS_CLUSTER_URL_ENV} are not set"
    )
    if os.environ.get("CI"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(f"SKIPPED, NOT TESTED: {msg}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # tests that use the server fixtures get the marker, so -m "not redis" works
    for item in items:
        names = getattr(item, "fixturenames", ())
        if {"redis_url", "dedicated_redis"} & set(names) and "redis" not in item.keywords:
            item.add_marker(pytest.mark.redis)
        if {"redis_cluster", "redis_cluster_url", "dedicated_redis_cluster"} & set(names):
            if "redis_cluster" not in item.keywords:
                item.add_marker(pytest.mark.redis_cluster)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if REDIS_SERVER:
        return
    if item.get_closest_marker("redis") and not os.environ.get(REDIS_URL_ENV):
        redis_unavailable(item.nodeid)
    if item.get_closest_marker("redis_cluster") and not os.environ.get(REDIS_CLUSTER_URL_ENV):
        redis_unavailable(item.nodeid)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a standalone Redis for the whole session (do not stop it)."""
    env = os.environ.get(REDIS_URL_ENV)
    if env:
        yield env
        return
    if not REDIS_SERVER:
        redis_unavailable("standalone redis")
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def start_redis_cluster(base: Path, masters: int = 3) -> RedisClusterHandle:
    """Start ``masters`` cluster-enabled servers under ``base`` and join them (no replicas).

    Each node keeps its ``nodes.conf`` in its own dir, so ``node.restart()`` brings it back
    with the same id and slots. Call ``handle.stop()`` when done.
    """
    assert REDIS_CLI is not None
    nodes = []
    for _ in range(masters):
        port = free_cluster_port()
        nodes.append(
            RedisServer(
                port,
                base / str(port),
                (
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", "1000",
                    # the other slots keep serving while one node restarts (fault tests)
                    "--cluster-require-full-coverage", "no",
                ),
            )
        )  # fmt: skip
    handle = RedisClusterHandle(
        "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in nodes), nodes
    )
    try:
        for node in nodes:
            node.start()
        subprocess.run(
            [REDIS_CLI, "--cluster", "create"]
            + [f"127.0.0.1:{n.port}" for n in nodes]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        handle.wait_ok()
    except BaseException:
        handle.stop()
        raise
    return handle


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterHandle]:
    """A 3-master Redis Cluster (no replicas) for the whole session (do not stop nodes)."""
    env = os.environ.get(REDIS_CLUSTER_URL_ENV)
    if env:
        yield RedisClusterHandle(env)
        return
    if not (REDIS_SERVER and REDIS_CLI):
        redis_unavailable("redis cluster")
    handle = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def redis_cluster_url(redis_cluster: RedisClusterHandle) -> str:
    return redis_cluster.url


@pytest.fixture
def dedicated_redis_cluster(tmp_path: Path) -> Iterator[RedisClusterHandle]:
    """A private 3-master cluster for this test only (kill/restart nodes at will)."""
    if not (REDIS_SERVER and REDIS_CLI):
        redis_unavailable("dedicated redis cluster")
    handle = start_redis_cluster(tmp_path / "cluster")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def dedicated_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server for this test only: stop/kill/start it at will."""
    if not REDIS_SERVER:
        redis_unavailable("dedicated redis")
    server = RedisServer(free_port(), tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- stores ------------------------------------------------------------------------------------
STORE_BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
    pytest.param("redis_cluster", id="redis_cluster", marks=pytest.mark.redis_cluster),
]

StoreFactory = Callable[..., Awaitable[Store]]


@pytest.fixture(params=STORE_BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """``"memory"``, ``"redis"`` or ``"redis_cluster"`` (tests run once per backend)."""
    return str(request.param)


@pytest.fixture
async def store_factory(
    store_backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[StoreFactory]:
    """``await make(config=None, **options)``: a fresh store with a unique key prefix,
    cleared and closed after the test."""
    made: list[Store] = []
    url = None
    if store_backend == "redis":
        url = request.getfixturevalue("redis_url")
    elif store_backend == "redis_cluster":
        url = request.getfixturevalue("redis_cluster_url")

    async def make(config: StateConfig | None = None, **options: object) -> Store:
        if url is None:
            store: Store = MemoryStore(config, warn_workers=False)
        else:
            prefix = f"t{uuid.uuid4().hex[:12]}"
            # generous timeout: tests share two cores with three servers
            store = storage_from_uri(url, config, prefix=prefix, socket_timeout=2.0, **options)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.clear()
        await store.close()


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    """A fresh store with the default :class:`StateConfig`, once per backend."""
    return await store_factory()
