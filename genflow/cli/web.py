"""``genflow web [--host H] [--port P] [--token T]``: the read-only view in a browser."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from genflow.cli._common import console, err_console

__all__ = ["web_cmd"]


def web_cmd(
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; anything but loopback needs --token."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port).")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="GENFLOW_WEB_TOKEN",
            help="Secret every request must carry (?token=, cookie, or Bearer header).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Live, read-only view of the database: campaigns, failures, hits, traces, 3D structures."""
    from genflow.core.store import connect
    from genflow.web import WebConfigError, check_bind, serve

    try:
        check_bind(host, token)
    except WebConfigError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    # no index creation: the view never writes, and a read-only account must do
    with connect(create_indexes=False) as stores:

        def ready(url: str) -> None:
            console.print(
                f"genflow web: serving {stores.db_name} read-only at {url}", highlight=False
            )
            console.print("press Ctrl-C to stop", style="dim")

        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop it
            serve(stores, host, port, token=token, on_ready=ready)
