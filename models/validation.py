"""Validation shared by every boundary model: errors that know their field, and what text may hold."""

from __future__ import annotations

import unicodedata


class FieldError(ValueError):
    """Raised by a model-level rule: ``path`` is the dotted field it concerns (``answers.q5``).

    Pydantic keeps the exception in the error's context; ``api/errors.py``
    appends ``path`` to the error's location.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


#: Characters a person's text must not carry: bidirectional overrides and isolates (they make a
#: name read differently on screen than it is stored).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
#: Invisible characters: a text made only of these (and spaces) says nothing.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u3164")


def clean_text(value: str, multiline: bool = True) -> str:
    """Refuse control characters, lone surrogates, direction overrides, and text that is only invisible."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            raise ValueError("contains an unpaired surrogate (not valid Unicode text)")
        if category == "Cc" and not (multiline and char in "\n\t\r"):
            raise ValueError(f"contains the control character U+{ord(char):04X}")
        if char in _BIDI_CONTROLS:
            raise ValueError(f"contains the text-direction control U+{ord(char):04X}")
    if not any(not c.isspace() and c not in _INVISIBLE and unicodedata.category(c) != "Cf" for c in value):
        raise ValueError("has no visible characters")
    return value


def clean_line(value: str) -> str:
    """One line of text (a name, an institution): no line breaks either."""
    return clean_text(value, multiline=False)
