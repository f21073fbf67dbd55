"""Stand-ins for Python model servers, reproducing only how each builds and starts its ASGI
app (read from their sources; see each module), with fake completions from ``upstream_app``."""
