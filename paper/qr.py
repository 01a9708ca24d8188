"""A QR code for paper: ``segno`` encodes it, the Typst template draws it (``qr.typ``), module by module.

The template gets the symbol's side and its dark runs, row by row (``[row, column, length]``), so the page
holds a few hundred rectangles, no image, and the PDF stays PDF/A with the text layer untouched.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import segno


def qr_facts(data: str) -> dict[str, Any]:
    """The QR symbol of ``data`` (error correction M) as the template draws it: ``size`` modules a side (the
    quiet zone is the template's), ``runs`` of dark modules."""
    size, runs = _symbol(data)
    return {"size": size, "runs": [list(run) for run in runs]}


@lru_cache(maxsize=256)
def _symbol(data: str) -> tuple[int, tuple[tuple[int, int, int, int], ...]]:
    """Encoded once per link and process: choosing the mask (segno tries all eight, for the most readable) is
    most of the encoding's cost, and a notice is typeset four times (PDF and text, in two languages). The dark
    modules as rectangles ``(row, column, width, height)``: a row's runs, merged with the same run of the rows
    below (about half as many shapes for Typst to place)."""
    symbol = segno.make_qr(data, error="m", boost_error=False)
    matrix = symbol.matrix
    done: list[tuple[int, int, int, int]] = []
    growing: dict[tuple[int, int], tuple[int, int]] = {}  # (column, width) -> (first row, height)
    for r, row in enumerate(matrix):
        here: set[tuple[int, int]] = set()
        c = 0
        while c < len(row):
            if row[c] & 1:
                begin = c
                while c < len(row) and row[c] & 1:
                    c += 1
                here.add((begin, c - begin))
            else:
                c += 1
        for key in list(growing):
            if key not in here:
                first, height = growing.pop(key)
                done.append((first, key[0], key[1], height))
        for key in here:
            first, height = growing.get(key, (r, 0))
            growing[key] = (first, height + 1)
    done += [(first, c, w, h) for (c, w), (first, h) in growing.items()]
    return len(matrix), tuple(sorted(done))
