"""HTML pages people read (proof sheets, delivery reports): Jinja2 templates in this folder, rendered
with autoescape and StrictUndefined, so every value, customer data above all, is text, never markup.
One shared stylesheet (``base.css``) is inlined: the pages work offline and print well."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

__all__ = ["render_page"]

HERE = Path(__file__).parent


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["stylesheet"] = (HERE / "base.css").read_text(encoding="utf-8")
    return env


def render_page(template: str, **context: Any) -> str:
    """Render one of this folder's templates (``proof.html.j2``, ``delivery.html.j2``) to a string."""
    return _environment().get_template(template).render(**context)
