"""Demo data and simulation helpers."""

from __future__ import annotations
