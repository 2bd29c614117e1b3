"""Invoice PDFs: the invoice's own HTML page (``engine.invoice.render_html``) rendered
by WeasyPrint, with the fonts the project ships.

Rendering is identical on any machine: the page's font, DejaVu Sans (Bitstream Vera
licence, ``static/fonts/LICENSE``), is loaded from ``api/console/static/fonts/`` by
``@font-face``, never from the system, and the fetcher refuses every URL that is not
one of those files (no network, no other file). The page prints the invoice number,
the SHA-256 of the stored ``invoice.json`` and the lineage (run, data versions,
contract SHA-256, code version); every page's footer repeats the reference and the
SHA-256 prefix, with "Page n of m".
"""
from __future__ import annotations

from pathlib import Path

FONTS = Path(__file__).resolve().parent / "static" / "fonts"

FONT_CSS = f"""
@font-face{{font-family:"DejaVu Sans";font-weight:normal;src:url("{(FONTS / 'DejaVuSans.ttf').as_uri()}")}}
@font-face{{font-family:"DejaVu Sans";font-weight:bold;src:url("{(FONTS / 'DejaVuSans-Bold.ttf').as_uri()}")}}
@font-face{{font-family:"DejaVu Sans Mono";src:url("{(FONTS / 'DejaVuSansMono.ttf').as_uri()}")}}
body,table,th,td{{font-family:"DejaVu Sans"}}code{{font-family:"DejaVu Sans Mono"}}
"""


def _fetcher():
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    class ShippedFilesOnly(URLFetcher):
        """Only the shipped fonts: anything else (http, another file) is refused."""

        def fetch(self, url, headers=None):
            allowed = {(FONTS / name).as_uri() for name in
                       ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf")}
            if url.split("?")[0] not in allowed:
                raise FatalURLFetchingError(f"the invoice PDF loads nothing but its fonts; refused {url[:80]}")
            return super().fetch(url, headers)
    return ShippedFilesOnly(allowed_protocols={"file"})


def html_to_pdf(page: str, *, title: str | None = None) -> bytes:
    """The PDF of a self-contained HTML page, in the shipped fonts."""
    from weasyprint import CSS, HTML
    fetcher = _fetcher()
    doc = HTML(string=page, url_fetcher=fetcher, media_type="print")
    return doc.write_pdf(stylesheets=[CSS(string=FONT_CSS, url_fetcher=fetcher)])
