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
    """Attach each room's commands (their modules import heavy libraries lazily)."""
    from genflow.hull.cli import app as hull_app

    app.add_typer(hull_app, name="hull", help="Score energies against convex hulls.")

    from genflow.campaign.cli import register as register_campaign
    from genflow.campaign.db_cli import app as db_app
    from genflow.campaign.refs_cli import register as register_refs
    from genflow.evaluation.cli import register as register_evaluation
    from genflow.model.cli import register as register_model

    register_model(app)
    register_campaign(app)
    register_evaluation(app)
    register_refs(app)
    app.add_typer(db_app, name="db", help="Inspect, start or stop genflow's database.")


_register()

if __name__ == "__main__":  # pragma: no cover
    app()
