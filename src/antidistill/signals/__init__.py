"""Detectors. Each turns what one request shows (plus shared state) into ``Signal`` values."""
