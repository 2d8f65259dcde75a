"""Letters: the notice on paper, as a PDF per person that a print vendor can mail.

A letter is rendered from ``templates/<notice>/letter.html.j2`` in the same sandbox as every other part
(autoescape on), then laid out by WeasyPrint: the paper and the envelope window come from
``templates/letter_layouts.toml`` (DIN 5008 on A4 for most of the world, a US #10 window on Letter for
North America), the type from Debian's DejaVu fonts (Latin, Cyrillic and Vietnamese), embedded in the
PDF. The recipient's address and the letter's reference are put in after the group's rendering, like
the name (``RECIPIENT_SLOT``, ``REFERENCE_SLOT``): one rendering per reader group, one PDF per person.
WeasyPrint may fetch nothing but those fonts: a letter names no other resource."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from notifier.errors import RenderError
from notifier.notices.datafile import load_data_file

__all__ = [
    "FONT_FILES",
    "LAYOUTS_FILE",
    "RECIPIENT_SLOT",
    "REFERENCE_SLOT",
    "Layout",
    "Layouts",
    "Window",
    "letter_pdf",
    "load_layouts",
    "personalized",
]

LAYOUTS_FILE = "letter_layouts.toml"
# Debian's fonts-dejavu-core (make letter-libs installs it; its licence: /usr/share/doc/fonts-dejavu-core).
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {"normal": FONT_DIR / "DejaVuSans.ttf", "bold": FONT_DIR / "DejaVuSans-Bold.ttf"}
# Private-use characters, as render.NAME_SLOT: no address or reference contains them.
RECIPIENT_SLOT = "\ue000recipient\ue001"
REFERENCE_SLOT = "\ue000reference\ue001"
PAPERS = {"A4": (210, 297), "Letter": (215.9, 279.4)}


@dataclass(frozen=True, slots=True)
class Window:
    """The envelope window's address field on the first page, in millimetres from its top-left corner."""

    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    paper: str  # A4 or Letter
    envelope: str
    window: Window
    countries: frozenset[str]

    def as_context(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "paper": self.paper,
            "window": {k: getattr(self.window, k) for k in ("left", "top", "width", "height")},
            "fonts": {kind: path.as_uri() for kind, path in FONT_FILES.items()},
        }


@dataclass(frozen=True, slots=True)
class Layouts:
    by_name: Mapping[str, Layout]
    default: Layout
    digest: str  # sha256 of the parsed file: what a letter's approval covers

    def for_country(self, country: str | None) -> Layout:
        wanted = (country or "").upper()
        return next((x for x in self.by_name.values() if wanted in x.countries), self.default)


def load_layouts(templates_dir: Path) -> Layouts:
    """The letter layouts of ``templates_dir``, checked (cached until the file changes)."""
    return load_data_file(templates_dir / LAYOUTS_FILE, "the letter layouts", _parse)


def _parse(data: Mapping[str, Any]) -> Layouts:
    layouts = {}
    for name, table in dict(data["layouts"]).items():
        where = f"layouts.{name}"
        paper = table.get("paper")
        if paper not in PAPERS:
            raise ValueError(f"{where}.paper {paper!r}: expected one of {', '.join(PAPERS)}")
        window = Window(**{k: float(table["window"][k]) for k in ("left", "top", "width", "height")})
        width, height = PAPERS[paper]
        if not (
            0 < window.left < window.left + window.width < width
            and 0 < window.top < window.top + window.height < height / 2
        ):
            raise ValueError(
                f"{where}.window does not fit on the top half of {paper} paper ({width} x {height} mm)"
            )
        layouts[name] = Layout(
            name=name,
            paper=paper,
            envelope=str(table["envelope"]),
            window=window,
            countries=frozenset(str(c).upper() for c in table.get("countries", [])),
        )
    defaults = [x for x in layouts.values() if not x.countries]
    if len(defaults) != 1:
        raise ValueError("exactly one layout must have no countries: the one everyone else's letter takes")
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return Layouts(by_name=layouts, default=defaults[0], digest=digest)


def personalized(html: str, *, address_lines: list[str], reference: str) -> str:
    """A group's letter for one person: their address in the window, their reference (HTML-escaped:
    an address is data)."""
    if not address_lines:
        raise RenderError("a letter needs a postal address")
    recipient = Markup("<br>").join(escape(line) for line in address_lines)
    return html.replace(RECIPIENT_SLOT, str(recipient)).replace(REFERENCE_SLOT, str(escape(reference)))


@lru_cache(maxsize=1)
def _fonts_only() -> Any:
    """A WeasyPrint URL fetcher that serves the letter fonts and refuses every other address."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    # Checked once per process, not per letter (an exception is not cached: a later call checks again).
    missing = [str(p) for p in FONT_FILES.values() if not p.is_file()]
    if missing:
        raise RenderError(f"the letter fonts are missing ({', '.join(missing)}): run make letter-libs")
    allowed = {path.as_uri(): path for path in FONT_FILES.values()}

    class FontsOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url not in allowed:
                raise ValueError(f"a letter loads only its fonts, not {url[:80]!r}")
            return URLFetcherResponse(
                url, body=allowed[url].read_bytes(), headers={"Content-Type": "font/ttf"}
            )

    return FontsOnly(allowed_protocols=("file",), fail_on_errors=True)


def letter_pdf(html: str) -> bytes:
    """The PDF of one letter (fonts embedded, subset). Raises RenderError when it cannot be made."""
    from weasyprint import HTML  # imported on first use: it loads Pango

    try:
        pdf = HTML(string=html, url_fetcher=_fonts_only()).write_pdf()
    except RenderError:
        raise
    except Exception as exc:  # WeasyPrint raises many kinds; every one means this letter cannot be made
        raise RenderError(f"cannot lay out the letter: {type(exc).__name__}: {exc}") from exc
    assert pdf is not None
    return bytes(pdf)
