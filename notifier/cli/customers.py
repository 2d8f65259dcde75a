"""``notifier customers``: load and validate customers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifier.cli.common import DatabaseOption, console, friendly_errors, settings_from, store_for

app = typer.Typer(help="Load and validate customers.", no_args_is_help=True)


@app.command("import")
@friendly_errors
def customers_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="UTF-8 CSV with a header: external_id,name,email,phone,locale,time_zone,country,"
            "region,email_opt_out,sms_opt_out",
            exists=True,
            dir_okay=False,
        ),
    ],
    database_url: DatabaseOption = None,
    show: Annotated[int, typer.Option(help="How many row problems to list.")] = 50,
) -> None:
    """Import or update customers (by external_id). Bad rows are reported with line numbers and skipped."""
    from notifier.audience.importer import import_customers
    from notifier.cli.output import import_report_table, progress_bar

    store = store_for(settings_from(database_url))
    with progress_bar(console, f"importing {file.name}", total=file.stat().st_size) as advance:
        report = import_customers(store, file, progress=advance)
    console.print(import_report_table(report, limit=show))
