"""Errors whose message is for people: Spanish, saying what happened and what to do."""

from __future__ import annotations


class CvpError(Exception):
    """Base of the domain's errors; ``message`` is shown to users as is."""

    status = 400

    def __init__(self, message: str, *, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def __str__(self) -> str:
        if not self.details:
            return self.message
        return self.message + "\n" + "\n".join(f"- {d}" for d in self.details)


class InvalidInput(CvpError):
    status = 422


class NotFound(CvpError):
    status = 404


class Conflict(CvpError):
    """The action no longer applies (stale revision, already decided, wrong moment of the procedure)."""

    status = 409


class PermissionDenied(CvpError):
    status = 403


class Unavailable(CvpError):
    """A service the action needs (the directory) did not answer or refused us; trying later may work."""

    status = 503


class StorageUnavailable(Unavailable):
    """The file store (folder or bucket) refused or failed an operation: full, forbidden or unreachable."""

    status = 503
