"""The Flask application of ``genflow web``: read-only, token-guarded off localhost.

Like FireWorks' ``lpad webgui``, a small server-rendered Flask app (Jinja templates, no
JavaScript build step) over the same library calls the CLI makes. What keeps it safe to leave
running next to a production database:

- **Read-only.** Only GET and HEAD are routed; any other method is answered 405 before a view
  runs, and no view writes (the stores are opened without creating indexes).
- **Localhost by default.** :func:`check_bind` refuses a non-loopback host without a token;
  with a token, every request must carry it (``?token=``, the ``genflow_web_token`` cookie
  that a ``?token=`` visit sets, an ``Authorization: Bearer`` or ``X-Genflow-Token`` header).
- **Nothing from the network.** Scripts, styles and the 3D viewer (plotly.js from the plotly
  wheel) are served by the app; the Content-Security-Policy allows only this origin, so a
  page that tried a CDN would fail loudly in the browser.
"""

from __future__ import annotations

import hmac
import ipaddress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, abort, request, send_from_directory
from markupsafe import escape
from pymongo.errors import PyMongoError

if TYPE_CHECKING:
    from genflow.core.store import GenflowStores

__all__ = ["TOKEN_COOKIE", "WebConfigError", "check_bind", "create_app", "is_loopback"]

TOKEN_COOKIE = "genflow_web_token"
READ_METHODS = frozenset({"GET", "HEAD"})
HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class WebConfigError(ValueError):
    """The server was asked to listen somewhere it must not (a public host without a token)."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything, so treat it as public


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback ``host`` without a ``token``.

    Raises
    ------
    WebConfigError
        ``host`` is not loopback and ``token`` is empty.
    """
    if not is_loopback(host) and not token:
        raise WebConfigError(
            f"refusing to listen on {host!r} without a token: anyone who reaches it could read "
            "the database; pass --token (or GENFLOW_WEB_TOKEN), or keep the default 127.0.0.1"
        )


def _plotly_dir() -> Path:
    """``plotly/package_data``: where the plotly wheel ships ``plotly.min.js``."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the 'plotly' package (a pymatgen dependency) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data"


def when(value: datetime | str | None) -> str:
    """A stored time (datetime or ISO text) as ``YYYY-MM-DD HH:MM:SS UTC``; ``–`` if none."""
    if not value:
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _presented_token() -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return (
        request.args.get("token")
        or request.headers.get("X-Genflow-Token")
        or request.cookies.get(TOKEN_COOKIE)
    )


def create_app(stores: GenflowStores, *, token: str | None = None) -> Flask:
    """The ``genflow web`` application reading ``stores``.

    Parameters
    ----------
    stores
        Open :class:`~genflow.core.store.GenflowStores`; the app only reads them.
    token
        If set, every request must present it (see the module docstring); a ``?token=``
        visit stores it in an HTTP-only, same-site cookie so links need not repeat it.
    """
    from genflow.web import pages

    app = Flask(
        "genflow.web",
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
        static_url_path="/static",
    )
    app.config["GENFLOW_STORES"] = stores
    app.config["GENFLOW_TOKEN"] = token or None
    app.jinja_env.autoescape = True
    app.jinja_env.filters["when"] = when

    @app.before_request
    def _guard() -> Any:
        if request.method not in READ_METHODS:
            abort(405)  # read-only: nothing but GET/HEAD reaches a view
        expected = app.config["GENFLOW_TOKEN"]
        if expected is not None:
            given = _presented_token() or ""
            if not hmac.compare_digest(given.encode(), expected.encode()):
                abort(401)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        expected = app.config["GENFLOW_TOKEN"]
        if expected is not None and request.args.get("token") == expected:
            response.set_cookie(TOKEN_COOKIE, expected, httponly=True, samesite="Strict")
        return response

    @app.errorhandler(PyMongoError)
    def _database_down(exc: PyMongoError) -> tuple[str, int]:
        # a page that cannot reach the database says so instead of a bare 500
        app.logger.warning("database error: %s", exc)
        body = (
            "<!DOCTYPE html><title>database unavailable</title><h1>Database unavailable</h1>"
            f"<p>{escape(type(exc).__name__)}: {escape(str(exc)[:500])}</p>"
            "<p>The view retries on the next load.</p>"
        )
        return body, 503

    @app.route("/vendor/plotly.min.js")
    def plotly_js() -> Response:
        """plotly.js from the installed plotly wheel (the 3D viewer; no CDN)."""
        return send_from_directory(_plotly_dir(), "plotly.min.js", max_age=3600)

    pages.register(app)
    return app
