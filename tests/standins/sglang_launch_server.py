"""The shape of ``python -m sglang.launch_server``: parse the arguments, call ``launch_server``."""

from __future__ import annotations

import argparse

from standins.sglang_http_server import launch_server

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=30000)
    parser.add_argument("--api-key", default=None)
    launch_server(parser.parse_args())
