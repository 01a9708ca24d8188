"""The signed paper that comes back: a scan or a photo, made safe before it is kept.

A file is what its first bytes say (PDF, JPEG, PNG), never what the upload declares; and it is
never kept as it came. A photo is decoded and encoded again (Pillow): nothing but its pixels
survives, neither a hybrid's other half (a PNG that is also HTML) nor its metadata (a phone's
EXIF holds where it was taken). A PDF is drawn page by page (PDFium) into a new PDF of those
images: scripts, forms, launch actions, attachments and links are gone, and only the paper's
look remains. What cannot be decoded, is too large to draw, or has too many pages is refused
with the reason in words (``ScanError``).
"""

from __future__ import annotations

import io
import warnings

import pypdfium2 as pdfium
from PIL import Image, ImageOps

from paper.typeset import PDFIUM

#: What a scan or photo may be, by its first bytes (the declared type is not trusted).
MAGIC = {b"%PDF-": "application/pdf", b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
#: the file name's ending of each kind kept
EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
#: a receipt is a page or two; a phone's photo is some 12 to 50 million pixels
MAX_PAGES = 10
MAX_PIXELS = 60_000_000
#: how finely a PDF's pages are drawn (a signature and a stamp stay legible)
DPI = 150


class ScanError(ValueError):
    """The file cannot be kept: the reason, in words a person reads."""


def sniff(head: bytes) -> str | None:
    """What a scan or photo is, by its first bytes: PDF, JPEG, PNG, or None."""
    return next((media for magic, media in MAGIC.items() if head.startswith(magic)), None)


def _image(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise ScanError("图片太大（像素过多），请缩小后再上传")
            image.load()
        except ScanError:
            raise
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ScanError("图片无法读取，请重新拍照或扫描后上传") from None
    return ImageOps.exif_transpose(image)  # upright as taken, before the EXIF that says so is dropped


def clean(data: bytes) -> tuple[bytes, str]:
    """The copy to keep, and its media type: a photo encoded afresh, a PDF drawn again."""
    media = sniff(data[:16])
    if media is None:
        raise ScanError("只能上传 PDF、JPEG 或 PNG 文件")
    if media == "application/pdf":
        return _redrawn(data), media
    image = _image(data)
    out = io.BytesIO()
    if media == "image/jpeg":
        image.convert("RGB").save(out, "JPEG", quality=90, optimize=True)
    else:
        image.convert("RGBA" if "A" in image.getbands() else "RGB").save(out, "PNG", optimize=True)
    return out.getvalue(), media


def _redrawn(data: bytes) -> bytes:
    with PDFIUM:  # PDFium is not thread-safe: one thread of the process uses it at a time
        pages = _pages(data)
    out = io.BytesIO()
    pages[0].save(out, "PDF", resolution=DPI, save_all=True, append_images=pages[1:])
    return out.getvalue()


def _pages(data: bytes) -> list[Image.Image]:
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        raise ScanError("PDF 文件无法打开（可能已加密或已损坏），请重新扫描后上传") from None
    try:
        if len(document) == 0 or len(document) > MAX_PAGES:
            raise ScanError(f"PDF 须为 1 至 {MAX_PAGES} 页")
        pages = []
        for page in document:
            width, height = page.get_size()
            if width * height * (DPI / 72) ** 2 > MAX_PIXELS:
                raise ScanError("PDF 页面太大，请按 A4 纸重新扫描后上传")
            pages.append(page.render(scale=DPI / 72, may_draw_forms=False).to_pil().convert("RGB"))
    finally:
        document.close()
    return pages
