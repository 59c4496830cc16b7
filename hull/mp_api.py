"""Reference hull of one chemical system from the Materials Project API (``mp-api``).

Entries come from MP's ``thermo`` endpoint with ``thermo_type`` GGA_GGA+U: MP's own
MP2020-corrected GGA/GGA+U entries, the scheme candidates are scored in. Needs an API key
(``GENFLOW_MP_API_KEY`` or the ``api_key`` argument). The network is only touched here.
"""

from __future__ import annotations

from collections.abc import Sequence

from genflow.hull.reference import ReferenceHull

__all__ = ["DEFAULT_THERMO_TYPE", "build_mp_api_hull"]

#: MP2020-corrected GGA/GGA+U mixing: the scheme of genflow's candidates.
DEFAULT_THERMO_TYPE = "GGA_GGA+U"


def build_mp_api_hull(
    chemsys: str | Sequence[str],
    api_key: str | None = None,
    *,
    thermo_type: str = DEFAULT_THERMO_TYPE,
) -> ReferenceHull:
    """Fetch every MP entry of a chemical system (and its subsystems) into a hull.

    Parameters
    ----------
    chemsys : str or sequence of str
        ``"Li-Fe-O"``, ``"Li Fe O"`` or ``["Li", "Fe", "O"]`` (at most 9 elements, an mp-api
        limit); an unknown symbol raises ``ValueError`` naming it.
    api_key : str, optional
        Materials Project API key; default settings ``MP_API_KEY``.
    thermo_type : str
        MP thermo type; the default GGA_GGA+U gives MP2020-compatible energies.

    Returns
    -------
    ReferenceHull
        Named ``mp-api:<chemsys>``, energies per atom as MP serves them (corrections included).

    Raises
    ------
    ValueError
        If no API key is configured.
    """
    from genflow.core.chem import chemsys_string, parse_chemsys
    from genflow.core.settings import get_settings

    elements = list(parse_chemsys(chemsys))
    key = api_key or get_settings().MP_API_KEY
    if not key:
        raise ValueError(
            "mp-api hull: no Materials Project API key; set GENFLOW_MP_API_KEY "
            "(https://next-gen.materialsproject.org/api)"
        )
    try:
        from mp_api.client import MPRester
    except ImportError as exc:
        raise ImportError(
            "mp-api hull: the `mp-api` package is missing; pip install 'genflow[mp]'"
        ) from exc

    with MPRester(key, mute_progress_bars=True) as mpr:
        entries = mpr.get_entries_in_chemsys(
            elements, additional_criteria={"thermo_types": [thermo_type]}
        )
    name = "mp-api:" + chemsys_string(elements)
    if not entries:
        raise ValueError(f"{name}: the Materials Project returned no entries")
    return ReferenceHull(
        [e.composition for e in entries],
        [e.energy_per_atom for e in entries],
        ids=[str(e.entry_id) for e in entries],
        formulas=[e.composition.reduced_formula for e in entries],
        name=name,
        scheme=f"Materials Project {thermo_type} (MP2020-corrected, as served)",
    )
