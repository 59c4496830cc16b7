"""``python -m genflow.cli``: the ``genflow`` command (tests and cron jobs without the script)."""

from genflow.cli import app

app()
