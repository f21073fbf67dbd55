"""Exceptions raised by antidistill."""

from __future__ import annotations


class AntiDistillError(Exception):
    """Base class for antidistill errors."""


class ConfigurationError(AntiDistillError):
    """Settings, URIs or hooks that cannot work (raised at start-up, never per request)."""


class StorageError(AntiDistillError):
    """A storage backend failed (wrapped driver error)."""
