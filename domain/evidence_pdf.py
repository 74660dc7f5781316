"""A one-page evidence summary as a PDF (K3), written by hand: text only, no dependency.

PDF 1.4, one A4 page, the standard Helvetica font (WinAnsiEncoding, so French accents print),
lines wrapped to the page width and cut at the bottom of the page with a closing "..." line:
it is a summary, the full record stays in the ledger.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

_WIDTH, _HEIGHT = 595, 842  # A4 in points
_MARGIN = 50
_SIZE = 10
_LEADING = 13
_CHARS = 95  # Helvetica 10 pt: about this many characters across the text width


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _lines(title: str, sections: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = [(title, True), ("", False)]
    for heading, paragraphs in sections:
        out.append((heading, True))
        for paragraph in paragraphs:
            for i, line in enumerate(textwrap.wrap(paragraph, _CHARS - 2) or [""]):
                out.append((("- " if i == 0 else "  ") + line, False))
        out.append(("", False))
    return out


def summary_pdf(title: str, sections: Sequence[tuple[str, Sequence[str]]]) -> bytes:
    """One page: a title, then sections (heading, paragraphs). Returns the PDF bytes."""
    lines = _lines(title, sections)
    fit = (_HEIGHT - 2 * _MARGIN) // _LEADING
    if len(lines) > fit:
        lines = [*lines[: fit - 1], ("... (the full record is kept in the ledger)", False)]
    content = [b"BT", f"{_MARGIN} {_HEIGHT - _MARGIN} Td".encode(), f"{_LEADING} TL".encode()]
    for text, bold in lines:
        content.append(f"/F{2 if bold else 1} {_SIZE + (1 if bold else 0)} Tf".encode())
        content.append(b"(" + _escape(text) + b") Tj T*")
    content.append(b"ET")
    stream = b"\n".join(content)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_WIDTH} {_HEIGHT}] "
        f"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
