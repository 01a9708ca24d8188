"""Typst, in-process: a document's facts in, a PDF/A out (and the text of it, for the text form).

One ``Typesetter`` per process: it loads the fonts once. The CJK font is a set-up
requirement, checked at start-up (``require_cjk``): without one a Chinese page would print
as empty boxes, so nothing starts.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import typst
from fontTools.ttLib import TTFont

from models.domain import DocumentKind

DEFAULT_TEMPLATES = Path(str(files("paper") / "templates"))
#: Serif first (the body of an official letter), then the set-up's fallbacks.
DEFAULT_FONTS = ("Noto Serif CJK SC", "Noto Sans CJK SC", "WenQuanYi Zen Hei")
#: After the CJK font, for what it lacks: the rare characters of names (CJK Extensions A to F, in HanaMin) and
#: emoji. Used where installed; a character no font has prints as ``SUBSTITUTE``.
FALLBACK_FONTS = ("HanaMinA", "HanaMinB", "Noto Color Emoji")
#: 〓 (the geta mark): what Chinese typesetting prints for a character it has no type for
SUBSTITUTE = "\u3013"
#: PDF/A-2b: the archive's profile (every font embedded, no external content).
PDF_STANDARD = "a-2b"
#: PDFium may be entered by one thread at a time (pypdfium2's rule)
PDFIUM = threading.Lock()


class FontMissing(RuntimeError):
    """No CJK font the documents can use is installed."""


class TypesetFailed(ValueError):
    """A template or its data cannot make a document (the same input fails every time)."""


def require_cjk(fonts: tuple[str, ...] = DEFAULT_FONTS, font_paths: list[Path] = ()) -> list[str]:
    """The configured CJK families Typst can find, or FontMissing saying what to install."""
    found = set(typst.Fonts(include_embedded_fonts=False, font_paths=[str(p) for p in font_paths]).families())
    usable = [f for f in fonts if f in found]
    if not usable:
        raise FontMissing(
            f"no CJK font for documents: none of {', '.join(fonts)} is installed. Install Debian's "
            "fonts-noto-cjk (or fonts-wqy-zenhei), or point CRISISFLOW_FONT_PATHS at a folder holding one"
        )
    return usable


def coverage(families: list[str], font_paths: list[Path] = ()) -> frozenset[int]:
    """The characters the families have glyphs for (the face nearest regular weight of each)."""
    faces: dict[str, typst.FontInfo] = {}
    for face in typst.Fonts(include_embedded_fonts=False, font_paths=[str(p) for p in font_paths]).fonts():
        if face.family in families and face.style == "normal" and face.path:
            best = faces.get(face.family)
            if best is None or abs(face.weight - 400) < abs(best.weight - 400):
                faces[face.family] = face
    covered: set[int] = set()
    for face in faces.values():
        font = TTFont(face.path, fontNumber=face.index, lazy=True)
        try:
            covered.update(font.getBestCmap() or {})
        finally:
            font.close()
    return frozenset(covered)


class Typesetter:
    def __init__(self, templates: Path | None = None, fonts: tuple[str, ...] = DEFAULT_FONTS,
                 font_paths: list[Path] = ()) -> None:
        self.templates = (templates or DEFAULT_TEMPLATES).resolve()
        self.fonts = require_cjk(fonts, font_paths)
        installed = set(typst.Fonts(include_embedded_fonts=False, font_paths=[str(p) for p in font_paths]).families())
        self.fonts += [f for f in FALLBACK_FONTS if f in installed]
        self.covered = coverage(self.fonts, font_paths)
        self._compiler = typst.Compiler(root=str(self.templates), font_paths=[str(p) for p in font_paths])
        self._lock = threading.Lock()  # one compiler, shared by the worker's activity threads

    def pdf(self, kind: DocumentKind, facts: dict[str, Any], made_at: datetime, form: str = "print") -> bytes:
        """The document as PDF/A; the same facts and time give the same bytes.

        ``form="text"``: the same document with nothing wrapped (one line per paragraph), which
        its text is read from.
        """
        template = self.templates / f"{getattr(kind, 'value', kind)}.typ"  # a document's, or a poster's
        facts = self.printable(facts)
        printed = breakable(facts) if form == "print" else facts
        inputs = {"data": json.dumps(printed, ensure_ascii=False), "fonts": json.dumps(self.fonts), "form": form}
        try:
            with self._lock:
                return self._compiler.compile(input=str(template), format="pdf", sys_inputs=inputs,
                                              pdf_standards=PDF_STANDARD, timestamp=int(made_at.timestamp()))
        except (typst.TypstError, RuntimeError, ValueError) as exc:
            raise TypesetFailed(f"{template.name}: {str(exc)[:300]}") from None

    def text(self, kind: DocumentKind, facts: dict[str, Any], made_at: datetime) -> str:
        """The document's text form: what the paper says, a line per paragraph or table row."""
        return text_of(self.pdf(kind, facts, made_at, form="text"))

    def png(self, kind: DocumentKind, facts: dict[str, Any], made_at: datetime, ppi: int = 110) -> list[bytes]:
        """Each page as a PNG (for screenshots and previews)."""
        template = self.templates / f"{kind.value}.typ"
        inputs = {"data": json.dumps(breakable(self.printable(facts)), ensure_ascii=False),
                  "fonts": json.dumps(self.fonts)}
        with self._lock:
            pages = self._compiler.compile(input=str(template), format="png", ppi=ppi, sys_inputs=inputs,
                                           timestamp=int(made_at.timestamp()))
        return pages if isinstance(pages, list) else [pages]


    def printable(self, value: Any) -> Any:
        """The facts with every character no font has replaced by ``SUBSTITUTE`` (an invisible mark, such as a
        variation selector, dropped): any text a form accepts prints, and shows where type was missing."""
        if isinstance(value, str):
            if all(ord(c) in self.covered or c in _LAYOUT for c in value):
                return value
            return "".join(c if ord(c) in self.covered or c in _LAYOUT
                           else "" if unicodedata.category(c) in ("Mn", "Me", "Cf") else SUBSTITUTE for c in value)
        if isinstance(value, dict):
            return {k: self.printable(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.printable(v) for v in value]
        return value


#: characters the layout itself handles (line breaks, spaces)
_LAYOUT = frozenset("\n\r\t ")
#: a run of characters with no place to break a line (no space; Chinese breaks between any two characters):
#: a long one (a URL, a number, a key held down) would run off the page
_UNBROKEN = re.compile(r"[^\s\u2e80-\u9fff\u3000-\u303f\uf900-\ufaff\uff00-\uffef]{24,}")
ZWSP = "\u200b"


def breakable(value: Any) -> Any:
    """The facts with a break opportunity (a zero-width space) every 8 characters of a long unbroken run,
    so that the printed line wraps at the margin instead of running off the paper."""
    if isinstance(value, str):
        return _UNBROKEN.sub(lambda m: ZWSP.join(m[0][i:i + 8] for i in range(0, len(m[0]), 8)), value)
    if isinstance(value, dict):
        return {k: breakable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [breakable(v) for v in value]
    return value


def text_of(pdf: bytes) -> str:
    """The text of a PDF, page by page: the document's text form.

    Read with PDFium (``pypdfium2``), which runs outside the interpreter lock: pypdf gave the same
    text for every document, at three to five times the cost, all of it holding the lock. PDFium is
    not thread-safe, so one thread of the process reads at a time.
    """
    with PDFIUM:
        document = pdfium.PdfDocument(pdf)
        try:
            pages = []
            for page in document:
                textpage = page.get_textpage()
                pages.append(textpage.get_text_range().replace("\r\n", "\n").strip())
                textpage.close()
                page.close()
            return "\n\n".join(pages) + "\n"
        finally:
            document.close()
