"""CSV import: streams, validates, reports bad rows with line numbers, upserts idempotently."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import customer, write_csv
from sqlalchemy import func, select

from notifier.audience.importer import import_customers
from notifier.errors import InputError
from notifier.store import Store
from notifier.store.schema import customers


def _count(store: Store) -> int:
    with store.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(customers)) or 0)


def test_bad_rows_are_reported_by_line_and_good_rows_imported(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        b"external_id,name,email,phone,locale,time_zone,country\n"
        b"C1,Ivan,ivan@example.com,+79161234567,ru_RU,Europe/Moscow,RU\n"  # line 2: fine
        b"C2,Ann,ann@,+79161234568,ru,Europe/Moscow,RU\n"  # line 3: bad email, still imported
        b"C3,too,many,fields,here,x,y,z,w\n"  # line 4: wrong field count, rejected
        b',"Multi\nline name",nobody@example.com,,en,UTC,US\n'  # lines 5-6: no external id, rejected
        b"C4,Bad \xff bytes,b@example.com,,en,UTC,US\n"  # line 7: not UTF-8, rejected
        b"C5,Nguyen,nguyen@example.vn,+84912345678,vi,Asia/Ho_Chi_Minh,VN\n"  # line 8: fine
    )
    report = import_customers(store, path)
    assert (report.rows, report.inserted, report.updated, report.rejected) == (6, 3, 0, 3)
    by_line = {i.line: i for i in report.issues}
    assert by_line[3].message.startswith("invalid email") and not by_line[3].rejected
    assert by_line[4].rejected and "expected 7 fields, found 9" in by_line[4].message
    assert by_line[5].rejected and "missing external_id" in by_line[5].message
    assert by_line[7].rejected and "UTF-8" in by_line[7].message
    assert _count(store) == 3


def test_reimport_is_idempotent_and_updates_changed_fields(store: Store, tmp_path: Path) -> None:
    rows = [customer(n) for n in range(1, 21)]
    first = import_customers(store, write_csv(tmp_path / "a.csv", rows))
    second = import_customers(store, write_csv(tmp_path / "a.csv", rows))
    assert (first.inserted, first.updated) == (20, 0)
    assert (second.inserted, second.updated) == (0, 20)
    assert _count(store) == 20
    rows[0]["email"] = "changed@example.com"
    import_customers(store, write_csv(tmp_path / "b.csv", rows))
    with store.connect() as conn:
        email = conn.scalar(
            select(customers.c.email).where(customers.c.external_id == rows[0]["external_id"])
        )
    assert email == "changed@example.com"
    assert _count(store) == 20


def test_a_large_file_streams_in_batches(store: Store, tmp_path: Path) -> None:
    rows = [customer(n) for n in range(1, 2501)]  # more than two import batches
    seen: list[int] = []
    report = import_customers(store, write_csv(tmp_path / "big.csv", rows), progress=seen.append)
    assert report.inserted == 2500 and report.rejected == 0
    assert len(seen) >= 3 and seen == sorted(seen)  # progress in bytes, per batch
    assert _count(store) == 2500


def test_an_unclosed_quote_is_reported_not_crashed_on(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        'external_id,name,email\nC1,Ok,ok@example.com\nC2,"Unclosed,x@example.com\n', encoding="utf-8"
    )
    report = import_customers(store, path)
    assert report.inserted == 1
    assert [i.line for i in report.issues if i.rejected] == [3]


def test_missing_required_columns_stop_before_reading_rows(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("id,full_name\n1,Ann\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1: missing column"):
        import_customers(store, path)
    empty = tmp_path / "e.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        import_customers(store, empty)


def test_a_reimport_never_takes_back_an_opt_out(store: Store, tmp_path: Path) -> None:
    import_customers(
        store, write_csv(tmp_path / "a.csv", [customer(1, sms_opt_out="yes", email_opt_out="yes")])
    )
    # The next export from the customer system says "no": a STOP the customer sent still stands.
    import_customers(
        store,
        write_csv(tmp_path / "b.csv", [customer(1, sms_opt_out="no", email_opt_out="no", name="Renamed")]),
    )
    with store.connect() as conn:
        row = conn.execute(select(customers.c.name, customers.c.sms_opt_out, customers.c.email_opt_out)).one()
    assert tuple(row) == ("Renamed", True, True)  # other fields do update


def test_the_demo_population_is_the_same_every_time_and_imports_with_exactly_its_planted_problems(
    store: Store, tmp_path: Path
) -> None:
    from notifier.demo.seed import write_demo_csv

    first = write_demo_csv(tmp_path / "a.csv", 600)
    second = write_demo_csv(tmp_path / "b.csv", 600)
    assert first.path.read_bytes() == second.path.read_bytes()
    report = import_customers(store, first.path)
    assert len({issue.line for issue in report.issues}) == first.planted_problems
    assert report.imported == 600
    assert any("address not valid for US: postal_code is required" in i.message for i in report.issues)
    with store.connect() as conn:
        addressed = conn.scalar(
            select(func.count()).select_from(customers).where(customers.c.address_line1.is_not(None))
        )
    assert 0.8 * 600 < (addressed or 0) < 600  # nine in ten have a postal address
