"""Typed errors raised by the core, and the exit codes the CLI maps them to.

The core never prints or exits: it raises one of these. The CLI turns each into a message on
stderr and the exit code below, at one boundary.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes of the ``polydesk`` command."""

    OK = 0
    ERROR = 1  # an operation failed (bad input for a single-item command, I/O, database)
    USAGE = 2  # wrong command-line usage (click's own code)
    PARTIAL = 3  # a bulk command finished but rejected some records
    NOT_FOUND = 4  # a named ticket, agent or file does not exist
    CONFLICT = 5  # illegal state transition, duplicate, lease held by someone else
    INTEGRITY = 6  # the audit log or a model file failed verification


class PolydeskError(Exception):
    """Base class of every error polydesk reports to a user."""

    exit_code: ExitCode = ExitCode.ERROR


class NotFoundError(PolydeskError):
    exit_code = ExitCode.NOT_FOUND


class ConflictError(PolydeskError):
    exit_code = ExitCode.CONFLICT


class IntegrityError(PolydeskError):
    exit_code = ExitCode.INTEGRITY


class InvalidValueError(PolydeskError):
    """A value given by a user (option, field) is not acceptable."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class IllegalTransitionError(ConflictError):
    """A lifecycle action that is not allowed from the ticket's current state."""

    def __init__(self, ticket_id: int, state: str, action: str) -> None:
        super().__init__(f"ticket {ticket_id} is {state}: cannot {action}")
        self.ticket_id = ticket_id
        self.state = state
        self.action = action


class DatabaseError(PolydeskError):
    """The database could not be opened or migrated."""
