"""Real server processes for the deployment tests: a command on a free loopback port.

The child gets this checkout's ``src`` (the antidistill being tested) and ``tests`` on
``PYTHONPATH`` and no ``ANTIDISTILL_*`` variable from the developer's shell.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import antidistill

TESTS = Path(__file__).resolve().parent
SRC = Path(antidistill.__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ANTIDISTILL_")}
    path = [str(SRC), str(TESTS)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    env.update(extra or {})
    return env


@dataclass
class Process:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def server_process(
    args: Sequence[str], *, port: int, log: Path, env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Iterator[Process]:
    """Run ``python args...`` (which must listen on ``port``) until the block ends."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, *args], cwd=TESTS, env=child_env(env),
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{args} exited: {log.read_text(errors='replace')[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield Process(port, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def uvicorn_args(app: str, port: int) -> list[str]:
    return ["-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log"]
