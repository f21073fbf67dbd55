"""The shape of ``litellm --port N`` (``litellm/proxy/proxy_cli.py``: ``run_server``)."""

from __future__ import annotations

import argparse

import uvicorn


def run_server() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    args = parser.parse_args()
    uvicorn.run("standins.litellm_proxy_server:app", host=args.host, port=args.port,
                log_level="warning")


if __name__ == "__main__":
    run_server()
