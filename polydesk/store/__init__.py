"""The SQLite store: the only module that speaks SQL. See :class:`Store`."""

from .db import transaction
from .events import ChainProblem, ChainReport
from .store import Store, TicketFilter

__all__ = ["ChainProblem", "ChainReport", "Store", "TicketFilter", "transaction"]
