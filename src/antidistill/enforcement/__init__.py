"""Enforcement: error responses, request degradation, tarpits and response metering."""
