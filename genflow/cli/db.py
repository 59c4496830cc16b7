"""``genflow db``: see, start and stop the database genflow talks to.

The embedded SecantusDB server deliberately outlives each CLI call (campaign state must stay
queryable between commands), so users need a way to see whether it runs and to stop it.
With ``GENFLOW_DB_URI`` set, these commands report on the configured MongoDB instead and
never start or stop anything.
"""

from __future__ import annotations

import json

import typer

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Inspect, start or stop genflow's database.")


@app.command()
def status(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show which database genflow uses and whether it answers."""
    from genflow.core.settings import get_settings
    from genflow.core.store import database_status

    info = database_status(get_settings())
    if json_out:
        typer.echo(json.dumps(info))
        return
    for key, value in info.items():
        typer.echo(f"{key:>10}: {value}")
    if not info["reachable"]:
        raise typer.Exit(1)


@app.command()
def start(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Start (or reuse) the embedded server; prints its URI."""
    from genflow.core.settings import get_settings
    from genflow.core.store import resolve_uri

    uri = resolve_uri(get_settings())
    typer.echo(json.dumps({"uri": uri}) if json_out else uri)


@app.command()
def stop(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Stop the embedded server genflow started (data stays on disk)."""
    from genflow.core.embedded import stop_server
    from genflow.core.settings import get_settings

    settings = get_settings()
    if settings.DB_URI:
        typer.echo("GENFLOW_DB_URI is set: genflow does not stop external databases.", err=True)
        raise typer.Exit(2)
    stopped = stop_server(settings.EMBEDDED_PORT, settings.DATA_DIR)
    if json_out:
        typer.echo(json.dumps({"stopped": stopped}))
    else:
        typer.echo("stopped" if stopped else "no embedded server was running")
