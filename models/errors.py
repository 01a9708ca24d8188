"""Domain errors: what went wrong, as codes and parameters, never as a sentence for a person.

Raised by the transition table's machine (``workflows/machine.py``), carried across the workflow
boundary in a Temporal ``ApplicationError``'s details (``as_details`` / ``from_details``), and
raised by the host-side door (``door/``) to every face. Each face words them once: the JSON API as
one 409, 422, 403 or 404 shape (``api/errors.py``), the staff app in Chinese beside the field or at
the top of the form (``api/web/words.py``). The English ``str()`` is for logs and the JSON API's
``detail``; a page never shows it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar


class DomainError(Exception, ABC):
    """An answer that is not a success; ``code`` says which kind (each kind is a subclass below)."""

    code: ClassVar[str] = "error"
    #: set when the door gives again the answer kept under an idempotency key
    replayed: bool = False

    @abstractmethod
    def as_details(self) -> dict[str, Any]:
        """What crosses a boundary (a workflow's failure details, a kept idempotent answer)."""

    @staticmethod
    def from_details(code: str, message: str, details: dict[str, Any]) -> "DomainError":
        kind = {k.code: k for k in (Refused, Invalid, Forbidden, NotFound)}.get(code)
        if kind is None:
            raise ValueError(f"unknown domain error code {code!r}")
        return kind._from(message, details)

    @classmethod
    @abstractmethod
    def _from(cls, message: str, details: dict[str, Any]) -> "DomainError":
        """The error again, from its message and ``as_details``."""


class Refused(DomainError):
    """The action is not allowed now: the case's state, the table's conditions that failed (codes of
    ``workflows.machine.CONDITION_TEXT``, or ``records_limit``), and what is allowed instead."""

    code = "refused"

    def __init__(self, message: str, state, allowed: list[str], action: str | None = None,
                 reasons: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(message)
        self.state = state
        self.allowed = list(allowed)
        self.action = action
        self.reasons = tuple(reasons)

    @property
    def state_code(self) -> str | None:
        return getattr(self.state, "value", self.state)

    def as_details(self) -> dict[str, Any]:
        return {"state": self.state_code, "allowed_actions": self.allowed, "action": self.action,
                "reasons": list(self.reasons)}

    @classmethod
    def _from(cls, message: str, details: dict[str, Any]) -> "Refused":
        return cls(message, details.get("state"), details.get("allowed_actions") or [], details.get("action"),
                   tuple(details.get("reasons") or ()))


class Invalid(DomainError):
    """A field's value is not acceptable: the field (dotted, as the body names it), a reason code and
    its parameters (limits, times as ISO strings with their offset)."""

    code = "invalid"

    def __init__(self, field: str, reason: str, params: dict[str, Any] | None = None,
                 message: str | None = None, where: str = "body") -> None:
        super().__init__(message or f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.params = dict(params or {})
        self.where = where  # body, header, query or path: where the field is

    def as_details(self) -> dict[str, Any]:
        return {"loc": [self.where, *self.field.split(".")], "field": self.field, "reason": self.reason,
                "params": self.params, "message": str(self)}

    @classmethod
    def _from(cls, message: str, details: dict[str, Any]) -> "Invalid":
        loc = details.get("loc") or ["body"]
        field = details.get("field") or ".".join(str(p) for p in loc[1:]) or "body"
        return cls(field, details.get("reason") or "invalid", details.get("params"),
                   message or details.get("message"), str(loc[0]))


class Forbidden(DomainError):
    """This person may not do this, whatever the state: their role, or another school's record."""

    code = "forbidden"

    def __init__(self, message: str, role: str | None = None, action: str | None = None,
                 reason: str = "role") -> None:
        super().__init__(message)
        self.role = role
        self.action = action
        self.reason = reason  # role | school

    def as_details(self) -> dict[str, Any]:
        return {"role": self.role, "action": self.action, "reason": self.reason}

    @classmethod
    def _from(cls, message: str, details: dict[str, Any]) -> "Forbidden":
        return cls(message, details.get("role"), details.get("action"), details.get("reason") or "role")


class NotFound(DomainError):
    """No such record (or none this person may know of)."""

    code = "not_found"

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"{what} {ident} not found")
        self.what = what
        self.ident = ident

    def as_details(self) -> dict[str, Any]:
        return {"what": self.what, "id": self.ident}

    @classmethod
    def _from(cls, message: str, details: dict[str, Any]) -> "NotFound":
        return cls(details.get("what", "record"), details.get("id", ""))
