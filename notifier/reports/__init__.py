"""What support and regulators read: campaign summaries (tables, Markdown for Prefect artifacts) and the
delivery report (CSV and HTML, contacts masked)."""
