"""Client stacks of the simulated day: the header sets real SDKs, browsers and curl send."""

from __future__ import annotations

from collections.abc import Callable


def _h(*pairs: tuple[str, str]) -> list[tuple[str, str]]:
    return list(pairs)


def _openai_python(ver: str = "1.66.3", os_: str = "Linux") -> list[tuple[str, str]]:
    return _h(("host", "api.example.com"), ("accept-encoding", "gzip, deflate"),
              ("connection", "keep-alive"), ("accept", "application/json"),
              ("content-type", "application/json"), ("user-agent", f"OpenAI/Python {ver}"),
              ("x-stainless-lang", "python"), ("x-stainless-package-version", ver),
              ("x-stainless-os", os_), ("x-stainless-arch", "x64"),
              ("x-stainless-runtime", "CPython"), ("x-stainless-runtime-version", "3.12.4"),
              ("authorization", ""), ("x-stainless-async", "false"),
              ("x-stainless-retry-count", "0"), ("x-stainless-read-timeout", "600"))


def _openai_node() -> list[tuple[str, str]]:
    return _h(("host", "api.example.com"), ("accept", "application/json"),
              ("content-type", "application/json"), ("user-agent", "OpenAI/JS 4.77.0"),
              ("x-stainless-lang", "js"), ("x-stainless-package-version", "4.77.0"),
              ("x-stainless-os", "MacOS"), ("x-stainless-arch", "arm64"),
              ("x-stainless-runtime", "node"), ("x-stainless-runtime-version", "v20.11.1"),
              ("authorization", ""), ("x-stainless-retry-count", "0"),
              ("accept-encoding", "gzip,deflate"), ("connection", "keep-alive"))


def _curl() -> list[tuple[str, str]]:
    return _h(("host", "api.example.com"), ("user-agent", "curl/8.5.0"), ("accept", "*/*"),
              ("authorization", ""), ("content-type", "application/json"))


def _browser_app() -> list[tuple[str, str]]:
    return _h(("host", "api.example.com"), ("connection", "keep-alive"),
              ("sec-ch-ua", '"Chromium";v="131", "Not_A Brand";v="24"'),
              ("sec-ch-ua-mobile", "?0"), ("authorization", ""),
              ("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                             "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
              ("content-type", "application/json"), ("accept", "*/*"),
              ("origin", "https://chat.example.org"), ("sec-fetch-site", "cross-site"),
              ("sec-fetch-mode", "cors"), ("sec-fetch-dest", "empty"),
              ("accept-encoding", "gzip, deflate, br, zstd"),
              ("accept-language", "en-US,en;q=0.9"))


def _hydra_stack() -> list[tuple[str, str]]:
    return _h(("host", "api.example.com"), ("accept", "*/*"), ("accept-encoding", "gzip"),
              ("user-agent", "python-httpx/0.27.2"), ("content-type", "application/json"),
              ("authorization", ""), ("x-request-source", "batch"))


HONEST_STACKS: tuple[Callable[[], list[tuple[str, str]]], ...] = (
    _openai_python, _openai_node, _curl, _browser_app, lambda: _openai_python("1.55.0", "MacOS"),
)
