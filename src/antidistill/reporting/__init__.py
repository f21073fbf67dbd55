"""Reporting: decision events, metrics, the admin API and indicator sharing."""
