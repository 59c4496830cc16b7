"""Run the ``genflow web`` application: a threaded WSGI server on one host and port.

The server is werkzeug's threaded one (what ``lpad webgui`` runs too): enough for the handful
of people who watch a campaign. Behind a reverse proxy, ``create_app`` is a plain WSGI app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from genflow.web.app import check_bind, create_app

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = ["serve", "url_for_user"]


def url_for_user(host: str, port: int, token: str | None) -> str:
    """The address to open (with ``?token=`` when one is required).

    On a wildcard address (``0.0.0.0``, ``::``) the machine's host name stands in: that is
    what a colleague types, not the wildcard.
    """
    if host in ("0.0.0.0", "::", ""):
        import socket

        host = socket.getfqdn()
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(
    stores: GenflowStores,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the read-only view of ``stores`` until interrupted.

    Parameters
    ----------
    host, port
        Where to listen; a non-loopback ``host`` needs ``token``.
    token
        Required on every request when set.
    on_ready
        Called with the URL to open once the socket is bound.

    Raises
    ------
    genflow.web.app.WebConfigError
        A non-loopback ``host`` without a token.
    """
    from werkzeug.serving import make_server

    check_bind(host, token)
    server = make_server(host, port, create_app(stores, token=token), threaded=True)
    if on_ready is not None:
        on_ready(url_for_user(host, server.server_port, token))
    try:
        server.serve_forever()
    finally:
        server.server_close()
