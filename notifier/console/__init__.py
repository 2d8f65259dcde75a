"""The web console: the comms team's, legal's, support's and admins' pages, server-rendered with Jinja2
on Starlette. Handlers are thin: they check who may act (``notifier.accounts.permissions``), call the same
``notifier`` functions as the CLI and the flows, and render a template."""
