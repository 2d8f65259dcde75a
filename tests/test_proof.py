"""Proof sheets: one page per notice with every locale × profile, and .eml files from the sending path."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

from typer.testing import CliRunner

from notifier.cli.app import app


def test_proof_pages_and_eml_files(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{tmp_path / 'n.db'}")
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["templates", "proof", "--out", str(tmp_path / "proof")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "proof" / "breach_notice.html").read_text(encoding="utf-8")
    assert page.count('class="card"') == 3 * 2  # locales × profiles
    for expected in (
        "Notice of Data Breach",
        "Что произошло",
        "Chuyện gì đã xảy ra",
        "UCS-2",
        "GSM-7",
        "never approved",
    ):
        assert expected in page
    segments = re.findall(r"(\d+) characters · (GSM-7|UCS-2) · (\d+) units · (\d) segment", page)
    assert len(segments) == 6 and all(int(s[3]) <= 2 for s in segments)
    emls = sorted((tmp_path / "proof" / "eml").glob("*.eml"))
    assert len(emls) == 2 * 3 * 2  # notices × locales × profiles
    msg = email.message_from_bytes(
        (tmp_path / "proof" / "eml" / "breach_notice-ru-california.eml").read_bytes(), policy=policy.default
    )
    assert msg["Subject"].startswith("Notice of Data Breach")
    assert msg["Content-Language"] == "ru"
    body = msg.get_body(("plain",)).get_content()
    assert body.startswith("Notice of Data Breach") and "What Happened (Что произошло)" in body
