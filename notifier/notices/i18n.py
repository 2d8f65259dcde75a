"""Message catalogs from ``locales/`` and the locale fallback chain (``ru_RU → ru → en``).

Catalogs are read from the ``.po`` sources and compiled in memory, so a stale ``.mo`` can never
disagree with what legal reviewed."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = ["DEFAULT_LOCALE", "available_locales", "fallback_chain", "load_translations", "resolve_locale"]

DEFAULT_LOCALE = "en"
DOMAIN = "messages"


def available_locales(locales_dir: Path) -> tuple[str, ...]:
    """Locales that have a catalog, e.g. ('en', 'ru', 'vi')."""
    return tuple(sorted(p.parent.parent.name for p in locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")))


def fallback_chain(locale: str) -> list[str]:
    """``ru_RU`` → ['ru_RU', 'ru', 'en']; ``zh_Hant_TW`` → ['zh_Hant_TW', 'zh_Hant', 'zh', 'en']."""
    parts = locale.replace("-", "_").split("_")
    chain = ["_".join(parts[:i]) for i in range(len(parts), 0, -1)]
    if DEFAULT_LOCALE not in chain:
        chain.append(DEFAULT_LOCALE)
    return chain


def resolve_locale(locale: str, available: tuple[str, ...]) -> str:
    """The first locale of the fallback chain that has a catalog (always ends at English)."""
    for candidate in fallback_chain(locale):
        if candidate in available:
            return candidate
    return DEFAULT_LOCALE


@lru_cache(maxsize=64)
def _compiled_mo(po_path: Path, mtime_ns: int) -> bytes:
    del mtime_ns  # part of the cache key: an edited catalog is compiled again
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=po_path.parent.parent.name)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)  # fuzzy entries are not translations yet
    return buffer.getvalue()


def load_translations(locales_dir: Path, locale: str) -> NullTranslations:
    """Translations for ``locale``, with the catalogs along its fallback chain chained in."""
    result: NullTranslations | None = None
    for candidate in fallback_chain(locale):
        po = locales_dir / candidate / "LC_MESSAGES" / f"{DOMAIN}.po"
        if not po.exists():
            continue
        layer = Translations(fp=io.BytesIO(_compiled_mo(po, po.stat().st_mtime_ns)), domain=DOMAIN)
        if result is None:
            result = layer
        else:
            result.add_fallback(layer)
    return result if result is not None else NullTranslations()
