"""Validation shared by every boundary model: errors that know their field, and what text may hold."""

from __future__ import annotations

import re
import unicodedata


class FieldError(ValueError):
    """Raised by a model-level rule: ``path`` is the dotted field it concerns (``answers.q5``), ``code``
    the rule that failed and ``params`` its values, for a face to word (the staff app:
    ``api.web.forms.FIELD_ERROR_ZH``); ``message`` is the English for the JSON API and logs.

    Pydantic keeps the exception in the error's context; ``api/errors.py``
    appends ``path`` to the error's location.
    """

    def __init__(self, path: str, message: str, code: str = "invalid", **params: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.code = code
        self.params = params


#: Characters a person's text must not carry: bidirectional overrides and isolates (they make a
#: name read differently on screen than it is stored).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
#: Invisible characters: a text made only of these (and spaces) says nothing.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u3164")


#: The characters ``clean_text`` refuses, as one character class: the controls (Unicode category Cc:
#: U+0000-U+001F and U+007F-U+009F; a multi-line text keeps tab, line feed and carriage return),
#: unpaired surrogates (category Cs) and the direction controls. One regular-expression search
#: instead of a category look-up per character: every text field of every request and every row of
#: a screening file passes here.
_BIDI_CLASS = "".join(f"\\u{ord(c):04x}" for c in sorted(_BIDI_CONTROLS))
_REFUSED = {
    True: re.compile(f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\ud800-\\udfff{_BIDI_CLASS}]"),
    False: re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\\ud800-\\udfff{_BIDI_CLASS}]"),
}


def clean_text(value: str, multiline: bool = True) -> str:
    """Refuse control characters, lone surrogates, direction overrides, and text that is only invisible."""
    refused = _REFUSED[multiline].search(value)
    if refused:
        char = refused.group()
        if "\ud800" <= char <= "\udfff":
            raise ValueError("contains an unpaired surrogate (not valid Unicode text)")
        if char in _BIDI_CONTROLS:
            raise ValueError(f"contains the text-direction control U+{ord(char):04X}")
        raise ValueError(f"contains the control character U+{ord(char):04X}")
    for c in value:
        if not c.isspace() and c not in _INVISIBLE and unicodedata.category(c) != "Cf":
            return value
    raise ValueError("has no visible characters")


def clean_line(value: str) -> str:
    """One line of text (a name, an institution): no line breaks either."""
    return clean_text(value, multiline=False)
