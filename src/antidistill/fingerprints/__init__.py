"""Fingerprints: the request (client stack, network) and the prompt (parse, normalise, hash)."""
