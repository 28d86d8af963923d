"""The text of an attached document (.docx with python-docx, .pdf with pypdf), within limits.

The secretary's minutes often come as a Word or PDF file. A .docx is a zip archive:
before python-docx opens it, the archive's declared sizes are checked, so a zip bomb
(a few kilobytes that unpack to gigabytes) is refused without unpacking. A PDF is read
page by page up to a page and a text limit. Any failure is "no text", never an error:
the file itself still goes out with the minutes.
"""
from __future__ import annotations

import io
import zipfile

MAX_UNPACKED_BYTES = 50 * 1024 * 1024  # what a .docx may unpack to
MAX_RATIO = 100  # unpacked size per packed byte, per member: beyond it, a bomb
MAX_PAGES = 200
MAX_TEXT = 200_000  # characters kept
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def text_of(filename: str, content_type: str, data: bytes) -> str:
    """The document's text, or "" when it is no document we read (or one we refuse to open)."""
    name = filename.lower()
    try:
        if name.endswith(".docx") or content_type == DOCX:
            return _docx_text(data)[:MAX_TEXT]
        if name.endswith(".pdf") or content_type == "application/pdf":
            return _pdf_text(data)[:MAX_TEXT]
    except Exception:  # noqa: BLE001 - a broken or hostile file: no text, the file still goes out
        return ""
    return ""


def safe_zip(data: bytes) -> bool:
    """Does the archive unpack to a sane size, member by member and in all?"""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        total = sum(m.file_size for m in members)
        bombs = [m for m in members if m.compress_size and m.file_size / m.compress_size > MAX_RATIO
                 and m.file_size > 1024 * 1024]
    return total <= MAX_UNPACKED_BYTES and not bombs


def _docx_text(data: bytes) -> str:
    from docx import Document  # lxml and python-docx are large: loaded when minutes come as .docx

    if not safe_zip(data):
        return ""
    document = Document(io.BytesIO(data))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        lines += [" | ".join(cell.text for cell in row.cells) for row in table.rows]
    return "\n".join(lines).strip()


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader  # loaded when minutes come as .pdf

    reader = PdfReader(io.BytesIO(data))
    texts, length = [], 0
    for page in reader.pages[:MAX_PAGES]:
        text = page.extract_text() or ""
        texts.append(text)
        length += len(text)
        if length > MAX_TEXT:
            break
    return "\n".join(texts).strip()
