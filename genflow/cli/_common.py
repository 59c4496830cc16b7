"""What several ``genflow`` commands share: consoles, ``--json`` output, spec loading.

Each helper turns a library outcome into terminal output or an exit code, the same way for
every command that uses it (one red line on stderr, exit 1 for a taken campaign name, exit 2
with one line per bad field for a bad spec).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

if TYPE_CHECKING:
    from genflow.campaign.spec import CampaignSpec

__all__ = [
    "DB_UNREACHABLE_EXIT",
    "ColumnOpt",
    "GenflowGroup",
    "JsonOpt",
    "SpecArg",
    "console",
    "err_console",
    "load_spec_or_exit",
    "name_or_exit",
    "print_finite_json",
    "print_json",
    "print_metrics",
    "taken_name_exits",
]

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

SpecArg = Annotated[Path, typer.Argument(help="Campaign spec (YAML or JSON).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
#: a peer's table (CSV / parquet) names its structure column anything; by default it is found
#: by content (CIF text, structure dicts, POSCAR, extxyz)
ColumnOpt = Annotated[
    str | None,
    typer.Option("--column", help="Structure column of CSV/parquet tables (default: by content)."),
]


#: Exit code of any command whose database did not answer within ``DB_TIMEOUT_S``.
DB_UNREACHABLE_EXIT = 3


class GenflowGroup(TyperGroup):
    """The root command group: turns an unreachable database into one line and exit code 3.

    Every command reaches the database through ``genflow.core.store.connect``, which fails
    within ``GENFLOW_DB_TIMEOUT_S`` with :class:`~genflow.core.store.DatabaseUnreachableError`;
    here, at the one place every command passes, it becomes one line on stderr (with
    ``--json``: a JSON error object on stdout) instead of a traceback.
    """

    def make_context(self, info_name: str | None, args: list[str], *a: Any, **kw: Any) -> Any:
        self._args = list(args)  # the command line, to see whether --json was asked for
        return super().make_context(info_name, args, *a, **kw)

    def invoke(self, ctx: Any) -> Any:
        from genflow.core.store import DatabaseUnreachableError

        try:
            return super().invoke(ctx)
        except DatabaseUnreachableError as err:
            if "--json" in getattr(self, "_args", ()):
                typer.echo(json.dumps(err.as_dict()))
            else:
                typer.echo(f"error: {err}", err=True)
            raise typer.Exit(DB_UNREACHABLE_EXIT) from None


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (dates and other objects as strings)."""
    typer.echo(json.dumps(data, indent=2, default=str))


def print_finite_json(data: Any) -> None:
    """``data`` as JSON on stdout with NaN and ±inf as null, so any parser reads it."""
    from genflow.core.jsonsafe import finite_or_none

    typer.echo(json.dumps(finite_or_none(data), indent=1, default=str))


def print_metrics(
    title: str,
    metrics: dict[str, Any],
    *,
    skip: tuple[str, ...] = (),
    float_format: str = ".4g",
    justify: Literal["left", "right"] = "left",
) -> None:
    """A two-column metric/value table on stdout (floats written with ``float_format``)."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify=justify)
    for key, value in metrics.items():
        if key in skip:
            continue
        table.add_row(key, format(value, float_format) if isinstance(value, float) else str(value))
    Console().print(table)


def load_spec_or_exit(spec_path: Path) -> CampaignSpec:
    """The campaign spec at ``spec_path``; a bad one exits with code 2, one line per bad field."""
    from genflow.campaign.spec import CampaignSpecError, load_spec

    try:
        return load_spec(spec_path)
    except CampaignSpecError as err:
        # plain echo: one unwrapped line per bad field, easy to grep in cron logs
        typer.echo(f"invalid campaign spec:\n{err}", err=True)
        raise typer.Exit(2) from None


def name_or_exit(name: str | None, spec: CampaignSpec | None = None) -> str:
    """``--name`` (default: the spec's name) if it is a safe campaign name, else exit code 2."""
    from genflow.campaign.spec import CampaignSpecError, check_campaign_name

    try:
        return check_campaign_name(name or (spec.name if spec else ""), "--name")
    except CampaignSpecError as err:
        typer.echo(f"invalid campaign name: {err}", err=True)
        raise typer.Exit(2) from None


@contextlib.contextmanager
def taken_name_exits() -> Iterator[None]:
    """A campaign name taken by another spec or mode: one red line, exit code 1."""
    from genflow.campaign.ledger import CampaignExistsError

    try:
        yield
    except CampaignExistsError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(1) from None
