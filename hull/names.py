"""Hull name → storage key: the one place a hull's name becomes the key of its scores.

A candidate document stores each hull's score under ``scores.<key>`` (MongoDB field path), so
the key may hold only letters, digits, ``_`` and ``-``. Bundled and mp-api hulls are named
that way already (``mp2021``, ``gnome``); a user's hull file is keyed by its sanitised stem
(``/data/my hull.csv.gz`` → ``my_hull_csv``). Column names of the hull tables are a different
thing: ``genflow.hull.keys.HullColumn``.

>>> score_key("mp2021"), score_key("/data/my hull.csv.gz"), score_key("mp-api:Fe-O")
('mp2021', 'my_hull_csv', 'mp-api_Fe-O')
>>> check_score_key("mp2021")
'mp2021'
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["check_score_key", "score_key"]

_SCORE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def check_score_key(name: str) -> str:
    """Return ``name`` if it can key scores (``scores.<name>``) as it is.

    Raises
    ------
    ValueError
        If ``name`` is not a non-empty string of letters, digits, ``_`` and ``-`` (a file
        path, a dotted name, an empty string): use :func:`score_key` to derive a key from it.
    """
    if not isinstance(name, str) or not _SCORE_KEY.match(name):
        raise ValueError(
            f"hull name {name!r} cannot key scores: use letters, digits, '_' or '-' "
            "(e.g. 'mp2021', 'gnome'), not a file path"
        )
    return name


def score_key(name: str) -> str:
    """Key a hull's scores are stored under: its name, or a hull file's sanitised stem.

    Parameters
    ----------
    name : str
        A hull name as ``load_hull`` takes it (``mp2021``, ``mp-api:Fe-O``, a file path).

    Returns
    -------
    str
        ``name`` with a path reduced to its file's stem and every character other than
        letters, digits, ``_`` and ``-`` replaced by ``_``.

    Raises
    ------
    ValueError
        If no key can be derived (not a string, or nothing left, e.g. ``""``).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"hull name {name!r} cannot key scores: give a hull name or file path")
    key = Path(name).stem if ("/" in name or "." in name) else name
    key = re.sub(r"[^A-Za-z0-9_-]", "_", key)
    if not key:
        raise ValueError(f"hull name {name!r} cannot key scores: its file stem is empty")
    return check_score_key(key)
