"""QR codes for printed certificates, rendered on the server as inline SVG (segno, pure Python):
no script, no image request, nothing the pages' Content-Security-Policy has to allow."""

from __future__ import annotations

import segno
from markupsafe import Markup


def qr_svg(url: str, scale: int = 3) -> Markup:
    """An ``<svg>`` element encoding ``url`` (error correction M, a 2-module quiet zone). segno
    writes only the code's path: the URL itself never appears in the markup."""
    return Markup(segno.make(url, error="m").svg_inline(scale=scale, border=2, svgclass="qr", lineclass=None,
                                                        title=None))
