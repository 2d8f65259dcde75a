"""Letters: planned where they are the notice in law (or nothing else reaches the person), laid out as
PDFs with the address in the envelope window, sealed into print batches, tracked from the vendor's file."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import customer, incident, incident_facts, planned_campaign, sign_in
from sqlalchemy import select
from typer.testing import CliRunner

from notifier.cli.app import app as cli
from notifier.config import PROJECT_ROOT, Settings
from notifier.errors import ConfigurationError
from notifier.models import Channel, ChannelPolicy
from notifier.notices.approval import Piece, content_hash
from notifier.notices.letters import load_layouts
from notifier.notices.lint import Linter
from notifier.sending.runner import launch
from notifier.store import Store
from notifier.store.schema import manifest, outbox

runner = CliRunner()
US = {
    "address_line1": "1600 Amphitheatre Pkwy",
    "address_city": "Mountain View",
    "region": "CA",
    "postal_code": "94043",
}
RU = {
    "address_line1": "ул. Тверская, д. 7, кв. 5",
    "address_city": "Москва",
    "address_region": "Москва",
    "postal_code": "125009",
}
MM = 72 / 25.4  # PDF points per millimetre
ALL = frozenset(Channel)


def _rows() -> list[dict[str, str]]:
    return [
        customer(2, **US),  # US, no e-sign consent: the letter is the notice (the email a courtesy copy)
        customer(5, **US, esign_consent_at="2024-03-01"),  # consent: the email is the notice, no letter
        customer(3, email="", phone="", **RU),  # RU, only a postal address: a letter
        customer(6, **RU),  # RU with email: the email is the notice, no letter
        customer(8),  # US, no address and no consent: nothing notifier sends is notice
    ]


def _plans(store: Store) -> dict[str, tuple[str, str | None]]:
    with store.connect() as conn:
        rows = conn.execute(select(manifest.c.external_id, manifest.c.channel_plan, manifest.c.letter_reason))
        return {r.external_id: (r.channel_plan, r.letter_reason) for r in rows}


def _letters(store: Store) -> dict[str, tuple[str, str]]:
    """external id → (reference, state) of each letter."""
    with store.connect() as conn:
        query = (
            select(manifest.c.external_id, outbox.c.message_token, outbox.c.state)
            .join(manifest, manifest.c.id == outbox.c.manifest_id)
            .where(outbox.c.channel == "letter")
        )
        return {r.external_id: (r.message_token, r.state) for r in conn.execute(query)}


def _poppler(tool: str, pdf: Path, *options: str) -> str:
    """What a poppler tool (pdftotext, pdfinfo, pdffonts) prints for ``pdf``."""
    command = [tool, *options, str(pdf), *(["-"] if tool == "pdftotext" else [])]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def _words(pdf: Path, page: int) -> list[tuple[str, float, float, float, float]]:
    """(word, xMin, yMin, xMax, yMax) in points from the page's top-left, read back by poppler."""
    out = _poppler("pdftotext", pdf, "-bbox", "-f", str(page), "-l", str(page))
    found = re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', out
    )
    return [(w, float(a), float(b), float(c), float(d)) for a, b, c, d, w in found]


def test_letters_go_where_the_law_wants_them_are_batched_for_print_and_tracked_back(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    letters_dir = tmp_path / "letters"
    settings = replace(settings, letter_url=f"printfile://{letters_dir}?batch=50")
    planned_campaign(store, settings, tmp_path, _rows(), channels=ALL)
    assert _plans(store) == {
        "C00002": ("email+sms+letter", None),
        "C00005": ("both", "policy"),
        "C00003": ("letter", None),
        "C00006": ("both", "policy"),
        "C00008": ("both", "no_address"),
    }
    result = launch(store, settings, "test-campaign", actor="tester", max_wait_seconds=30)
    assert result.failed == 0
    letters = _letters(store)
    assert set(letters) == {"C00002", "C00003"} and {s for _r, s in letters.values()} == {"accepted"}

    (batch,) = list((letters_dir / "batches").iterdir())
    assert not list((letters_dir / "pending").glob("*.pdf"))  # all sealed
    for line in (batch / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((batch / name).read_bytes()).hexdigest() == digest
    with (batch / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        listed = {r["reference"]: r for r in csv.DictReader(handle)}
    assert set(listed) == {ref for ref, _s in letters.values()}
    us_ref, ru_ref = letters["C00002"][0], letters["C00003"][0]
    assert listed[us_ref]["country"] == "US" and listed[ru_ref]["country"] == "RU"
    assert all(
        r["postage"] == "first_class" and int(r["sheets"]) == (int(r["pages"]) + 1) // 2
        for r in listed.values()
    )

    merged = batch / "letters.pdf"
    info = _poppler("pdfinfo", merged)
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    assert pages == 2 * sum(int(r["sheets"]) for r in listed.values())  # duplex: each letter starts a sheet
    fonts = _poppler("pdffonts", merged)
    assert "Letter-Sans" in fonts and all(
        " yes yes " in line for line in fonts.splitlines()[2:] if line.strip()
    )

    # Each letter's address lies inside its envelope window, on its own paper.
    for ref, layout_name, country_line in ((us_ref, "us_10", None), (ru_ref, "din_dl", "RUSSIAN")):
        row = listed[ref]
        first = int(row["first_page"])
        window = load_layouts(settings.templates_dir).by_name[layout_name].window
        box = (
            window.left * MM,
            window.top * MM,
            (window.left + window.width) * MM,
            (window.top + window.height) * MM,
        )
        words = _words(merged, first)
        # The first time each word of the envelope appears on the page (the salutation names them again).
        wanted = (
            ["Customer", "Amphitheatre", "MOUNTAIN"] if ref == us_ref else ["Customer", "ТВЕРСКАЯ,", "125009"]
        )
        address = [min((w for w in words if w[0] == word), key=lambda w: w[2]) for word in [*wanted]]
        for word, x0, y0, x1, y1 in address:
            assert box[0] <= x0 and x1 <= box[2] and box[1] <= y0 and y1 <= box[3], (
                word,
                box,
                (x0, y0, x1, y1),
            )
        if country_line:  # a letter abroad names the country, inside the window too
            (country,) = [w for w in words if w[0] == country_line]
            assert box[1] <= country[2] and country[4] <= box[3]
        text = _poppler("pdftotext", merged, "-f", str(first), "-l", str(first + int(row["pages"]) - 1))
        assert text.count(ref) >= int(row["pages"])  # the reference on every page's foot
        assert re.search(rf"(Page|Страница) {int(row['pages'])} / {int(row['pages'])}", text)
    assert "Notice of Data Breach" in _poppler("pdftotext", merged)  # California's title, verbatim

    # The vendor's file: one mailed, one returned; a bad file changes nothing; the same file twice neither.
    sign_in(store, monkeypatch, "support")
    url = ["--database-url", settings.database_url]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"reference,status,date,reason\n{us_ref},lost,2026-12-09,\nNOPE-1,mailed,2026-12-09,\n"
        f"{ru_ref},returned,2026-12-21,\n",
        encoding="utf-8",
    )
    refused = runner.invoke(cli, ["track", "letters", str(bad), *url])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "3 bad line(s), nothing applied" in said and "line 2: status 'lost'" in said and "line 4:" in said
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("reference,status,date,reason\nNOPE-1,mailed,2026-12-09,\n", encoding="utf-8")
    stranger = runner.invoke(cli, ["track", "letters", str(unknown), *url])
    assert stranger.exit_code == 1 and "'NOPE-1' is no letter of ours" in " ".join(stranger.output.split())
    assert {s for _r, s in _letters(store).values()} == {"accepted"}
    vendor = tmp_path / "vendor.csv"
    vendor.write_text(
        f"reference,status,date,reason\n{us_ref},printed,2026-12-08,\n{us_ref},mailed,2026-12-09,\n"
        f"{ru_ref},mailed,2026-12-09,\n{ru_ref},returned,2026-12-21,addressee unknown\n",
        encoding="utf-8",
    )
    applied = runner.invoke(cli, ["track", "letters", str(vendor), *url])
    assert applied.exit_code == 0, applied.output
    assert "4 lines: 2 mailed, 1 printed, 1 returned; 0 already recorded" in " ".join(applied.output.split())
    again = runner.invoke(cli, ["track", "letters", str(vendor), *url])
    assert "4 lines: nothing new; 4 already recorded" in " ".join(again.output.split())
    assert _letters(store) == {"C00002": (us_ref, "accepted"), "C00003": (ru_ref, "undelivered")}
    shown = runner.invoke(cli, ["customer", "show", "C00003", "--json", *url])
    (notice,) = json.loads(shown.output)[0]["notices"]
    (letter,) = notice["messages"]
    assert letter["channel"] == "letter" and letter["state"] == "undelivered" and not letter["reached"]
    assert "returned: addressee unknown" in json.dumps(letter["timeline"], ensure_ascii=False)
    assert notice["legal_notice"] == "letter (ru)"


def test_the_paper_and_window_follow_the_country_and_a_broken_layout_file_is_named(tmp_path: Path) -> None:
    layouts = load_layouts(PROJECT_ROOT / "templates")
    assert layouts.for_country("US").paper == "Letter" and layouts.for_country("RU").paper == "A4"
    assert layouts.for_country("VN") is layouts.default
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    path = templates / "letter_layouts.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("top = 45", "top = 200"), encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_layouts(templates)
    assert "layouts.din_dl.window does not fit on the top half of A4 paper" in str(caught.value)


def test_a_letter_needs_a_return_address_and_its_approval_covers_the_layout(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    facts = incident_facts()
    del facts["company"]["return_address"]
    linter = Linter(templates, PROJECT_ROOT / "locales")
    findings = [
        f
        for f in linter.run(incident=incident(**facts), notice="breach_notice", locale="en")
        if f.rule == "letter"
    ]
    assert findings and {f.channel for f in findings} == {"letter"}
    assert all("no return address" in f.message for f in findings)

    recorded = incident()
    letter = Piece(recorded.key, "breach_notice", "en", "letter", "us_ca")
    email = Piece(recorded.key, "breach_notice", "en", "email", "us_ca")
    before = {p: content_hash(templates, PROJECT_ROOT / "locales", recorded, p) for p in (letter, email)}
    layouts = templates / "letter_layouts.toml"
    layouts.write_text(
        layouts.read_text(encoding="utf-8").replace("left = 22", "left = 24"), encoding="utf-8"
    )
    after = {p: content_hash(templates, PROJECT_ROOT / "locales", recorded, p) for p in (letter, email)}
    assert after[letter] != before[letter] and after[email] == before[email]


def test_a_legal_channel_the_policy_set_aside_is_sent_rather_than_a_letter(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = [
        customer(5, **US, esign_consent_at="2024-03-01"),  # SMS first, but only the email is notice in law
        customer(2, **US),  # no consent: the letter is the notice; the email stays set aside
        customer(3, **RU),  # the SMS is notice in Russia: nothing changes
    ]
    planned_campaign(store, settings, tmp_path, rows, channels=ALL, policy=ChannelPolicy.SMS_FIRST)
    assert _plans(store) == {
        "C00005": ("both", "policy"),
        "C00002": ("sms+letter", None),
        "C00003": ("sms", "policy"),
    }
    with store.connect() as conn:
        legal = dict(conn.execute(select(manifest.c.external_id, manifest.c.legal_channel)).all())
        fallbacks = conn.execute(
            select(outbox.c.channel, outbox.c.state).where(outbox.c.state == "waiting")
        ).all()
    assert legal == {"C00005": "email", "C00002": "letter", "C00003": "sms"}
    assert sorted(tuple(f) for f in fallbacks) == [
        ("email", "waiting"),
        ("email", "waiting"),
    ]  # C00002, C00003
