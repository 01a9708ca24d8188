"""A validation error that knows its field, so a 422 can point at it without parsing text."""

from __future__ import annotations


class FieldError(ValueError):
    """Raised by a model-level rule: ``path`` is the dotted field it concerns (``answers.q5``).

    Pydantic keeps the exception in the error's context; ``api/errors.py``
    appends ``path`` to the error's location.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
