"""``printfile:///DIR``: letters for a print vendor, as merged PDF batches with a manifest.

Connection string: ``printfile:///srv/letters?batch=500&postage=first_class&duplex=1``

- ``send`` writes the letter's PDF to ``DIR/pending/<reference>.pdf`` (written to a temporary name and
  renamed, so a half-written letter never exists) with what the vendor needs beside it
  (``<reference>.json``: country and postage), and answers with the reference: handed over.
- Every ``batch`` letters, and when a sending window ends (``aclose``), the pending letters are sealed
  into ``DIR/batches/<batch id>/``: ``letters.pdf`` (every letter in order; with ``duplex`` each one
  starts on a fresh sheet), ``manifest.csv`` (reference, first page, pages, sheets, postage class,
  country, the letter's SHA-256) and ``SHA256SUMS`` (of both files, as ``sha256sum -c`` reads it).
  A batch is built under ``<id>.partial`` and renamed when complete; sealing holds ``DIR/.lock`` so
  senders in several processes never seal one letter twice. A letter a sealed manifest already lists
  (a crash after the rename) is dropped from pending, never printed twice.
- The vendor's "mailed" and "returned" files come back through ``notifier track letters FILE``."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from notifier.errors import ConfigurationError, PermanentDeliveryError
from notifier.models import Channel, Receipt, RenderedMessage

__all__ = ["MANIFEST_COLUMNS", "POSTAGE", "PrintFileChannel"]

POSTAGE = ("first_class", "standard", "certified")
MANIFEST_COLUMNS = ("reference", "first_page", "pages", "sheets", "postage", "country", "sha256")
_REFERENCE = re.compile(r"[A-Za-z0-9-]{1,64}")
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class _Pending:
    reference: str
    pdf: Path
    meta: dict[str, str]


class PrintFileChannel:
    kind = Channel.LETTER

    def __init__(
        self, directory: Path, *, batch: int = 500, postage: str = "first_class", duplex: bool = True
    ):
        self.directory = directory
        self.batch = batch
        self.postage = postage
        self.duplex = duplex
        self._since_seal = 0

    @classmethod
    def from_url(cls, url: str) -> PrintFileChannel:
        parts = urlsplit(url)
        if parts.netloc or not parts.path.startswith("/"):
            raise ConfigurationError(
                f"printfile: {url!r}: give an absolute directory, printfile:///srv/letters (three slashes)"
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - {"batch", "postage", "duplex", "rate", "burst", "concurrency"})
        if unknown:
            raise ConfigurationError(
                f"printfile: unknown option {unknown[0]!r}; known: batch, postage, duplex"
            )
        try:
            batch = int(query.get("batch", "500"))
        except ValueError:
            batch = 0
        if batch < 1:
            raise ConfigurationError("printfile: batch= must be a whole number of letters, at least 1")
        postage = query.get("postage", "first_class")
        if postage not in POSTAGE:
            raise ConfigurationError(f"printfile: postage={postage!r}; expected one of {', '.join(POSTAGE)}")
        duplex = query.get("duplex", "1").lower() in _TRUE
        return cls(Path(unquote(parts.path)), batch=batch, postage=postage, duplex=duplex)

    def __repr__(self) -> str:
        return f"PrintFileChannel({str(self.directory)!r}, batch={self.batch}, postage={self.postage})"

    @property
    def pending_dir(self) -> Path:
        return self.directory / "pending"

    @property
    def batches_dir(self) -> Path:
        return self.directory / "batches"

    async def send(self, message: RenderedMessage, *, token: str) -> Receipt:
        if message.document is None:
            raise PermanentDeliveryError("a letter without its PDF cannot be printed")
        if not _REFERENCE.fullmatch(token):
            raise PermanentDeliveryError(f"reference {token[:70]!r} cannot name a file")
        try:
            self.pending_dir.mkdir(parents=True, exist_ok=True)
            meta = {
                "reference": token,
                "country": message.headers.get("country", ""),
                "postage": self.postage,
            }  # its pages are counted once, when the batch is sealed
            _write_atomically(self.pending_dir / f"{token}.json", json.dumps(meta).encode())
            _write_atomically(self.pending_dir / f"{token}.pdf", message.document)
        except OSError as exc:
            raise ConfigurationError(
                f"printfile: cannot write to {self.pending_dir}: {exc.strerror}"
            ) from exc
        self._since_seal += 1
        if self._since_seal >= self.batch:
            self.seal()
        return Receipt(provider_message_id=token)

    async def aclose(self) -> None:
        self.seal()

    def seal(self) -> Path | None:
        """Seal the pending letters into one batch (at most ``batch`` of them per batch; more batches if
        more are pending). Returns the last batch made, None if nothing was pending."""
        self._since_seal = 0
        if not self.pending_dir.is_dir():
            return None
        made = None
        with self._locked():
            sealed = self._sealed_references()
            pending = []
            for item in self._pending():
                if item.reference in sealed:  # sealed already: the batch was renamed, the clean-up not done
                    _remove(item)
                else:
                    pending.append(item)
            for start in range(0, len(pending), self.batch):
                made = self._seal_batch(pending[start : start + self.batch])
        return made

    def _pending(self) -> list[_Pending]:
        found = []
        for pdf in sorted(self.pending_dir.glob("*.pdf")):
            meta_path = pdf.with_suffix(".json")
            if not meta_path.is_file():
                continue  # not a letter of ours (send writes the .json first, the PDF last)
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            found.append(_Pending(pdf.stem, pdf, meta))
        return found

    def _sealed_references(self) -> set[str]:
        refs: set[str] = set()
        if not self.batches_dir.is_dir():
            return refs
        for manifest in self.batches_dir.glob("*/manifest.csv"):
            if manifest.parent.name.endswith(".partial"):
                continue
            with manifest.open(encoding="utf-8", newline="") as handle:
                refs.update(row["reference"] for row in csv.DictReader(handle))
        return refs

    def _seal_batch(self, letters: list[_Pending]) -> Path:
        from pypdf import PdfReader, PdfWriter

        batch_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        partial = self.batches_dir / f"{batch_id}.partial"
        partial.mkdir(parents=True)
        writer = PdfWriter()
        rows = []
        for item in letters:
            data = item.pdf.read_bytes()
            reader = PdfReader(io.BytesIO(data))
            first = len(writer.pages) + 1
            writer.append(reader)
            pages = len(reader.pages)
            if self.duplex and pages % 2:
                box = reader.pages[0].mediabox
                writer.add_blank_page(width=box.width, height=box.height)  # the next letter starts a sheet
            sheets = (pages + 1) // 2 if self.duplex else pages
            rows.append(
                {
                    "reference": item.reference,
                    "first_page": first,
                    "pages": pages,
                    "sheets": sheets,
                    "postage": item.meta.get("postage", self.postage),
                    "country": item.meta.get("country", ""),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
        merged = io.BytesIO()
        writer.write(merged)
        (partial / "letters.pdf").write_bytes(merged.getvalue())
        with (partial / "manifest.csv").open("w", encoding="utf-8", newline="") as handle:
            out = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
            out.writeheader()
            out.writerows(rows)
        sums = "".join(
            f"{hashlib.sha256((partial / name).read_bytes()).hexdigest()}  {name}\n"
            for name in ("letters.pdf", "manifest.csv")
        )
        (partial / "SHA256SUMS").write_text(sums, encoding="utf-8")
        final = self.batches_dir / batch_id
        partial.rename(final)
        for item in letters:
            _remove(item)
        return final

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def _remove(item: _Pending) -> None:
    item.pdf.unlink(missing_ok=True)
    item.pdf.with_suffix(".json").unlink(missing_ok=True)
