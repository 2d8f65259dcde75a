"""Who may do what: users with roles, their passwords, API tokens and console sessions, and the one table
of actions each role may take (``permissions``), checked in one place by the console and the CLI."""
