"""The ``notifier`` command line (``notifier.cli.app:app``) and the tables and progress bars it prints."""
