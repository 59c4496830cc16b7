"""The ``genflow`` command line: one Typer app, sub-commands registered per room.

Each room (hull/, model/, genflow campaigns) owns its own Typer module; they are imported
here so ``genflow --help`` lists everything. Heavy imports (JAX, torch) stay inside commands.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="genflow",
    help="DFT validation of generated crystal structures: generate, gate, relax, score.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _register() -> None:
    """Attach each room's commands; a room that fails to import must not hide the others."""
    from genflow.hull.cli import app as hull_app

    app.add_typer(hull_app, name="hull", help="Score energies against convex hulls.")

    try:
        from genflow.model.cli import register as register_model
    except ImportError:  # model room not installed yet in this checkout
        pass
    else:
        register_model(app)

    try:
        from genflow.campaign_cli import register as register_campaign
    except ImportError:
        pass
    else:
        register_campaign(app)


_register()

if __name__ == "__main__":  # pragma: no cover
    app()
