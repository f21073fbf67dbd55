"""Scoring: signals -> request risk; identity and cluster risk accumulated with decay."""
