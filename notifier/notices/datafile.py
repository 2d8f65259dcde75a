"""Legal and layout data files (TOML in the templates folder): read, parsed and checked once per version.

Every such file is loaded the same way: a missing file is one line naming it, a TOML error names its
line, a parser's KeyError / TypeError / ValueError names the key that is wrong, and the parsed value is
cached until the file changes (its modification time and size are part of the cache key)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from notifier.errors import ConfigurationError

__all__ = ["load_data_file"]

T = TypeVar("T")


def load_data_file(path: Path, what: str, parse: Callable[[dict[str, Any]], T]) -> T:
    """``parse`` of the TOML at ``path`` (``what`` names the file in errors: "the letter layouts"). ``parse``
    must be a module-level function: it is part of the cache key."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read {what}: {exc.strerror}") from exc
    parsed: T = _parsed(path, stat.st_mtime_ns, stat.st_size, parse)
    return parsed


@lru_cache(maxsize=32)
def _parsed(path: Path, mtime_ns: int, size: int, parse: Callable[[dict[str, Any]], Any]) -> Any:
    del mtime_ns, size  # part of the cache key: an edited file is loaded again
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    try:
        return parse(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{path}: {exc} (see the comments in the file)") from exc
