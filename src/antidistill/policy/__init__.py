"""Policy: which requests are inspected, and which action a risk score maps to."""
