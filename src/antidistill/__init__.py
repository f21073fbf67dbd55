"""antidistill: detect and stop industrial-scale model distillation on LLM APIs.

::

    from antidistill import AntiDistillMiddleware
    app.add_middleware(AntiDistillMiddleware)   # configured from ANTIDISTILL_* variables
"""

from __future__ import annotations

from antidistill.context import RequestContext, current_decision
from antidistill.decision import Action, BudgetState, Decision, Reason, Signal
from antidistill.errors import AntiDistillError, ConfigurationError, StorageError
from antidistill.guard import Budgets, Guard
from antidistill.identity import Identity
from antidistill.middleware import AntiDistillMiddleware
from antidistill.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "Action",
    "AntiDistillError",
    "AntiDistillMiddleware",
    "BudgetState",
    "Budgets",
    "ConfigurationError",
    "Decision",
    "Guard",
    "Identity",
    "Reason",
    "RequestContext",
    "Settings",
    "Signal",
    "StorageError",
    "__version__",
    "current_decision",
]
