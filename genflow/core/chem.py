"""The composition canon: chemical systems, compositions and how formulas are spelled.

One function each, used by every room:

* :func:`parse_chemsys` — ``"Li-Fe-O"``, ``"Li Fe O"`` or ``["Li", "Fe", "O"]`` → the sorted
  tuple ``("Fe", "Li", "O")``; :func:`chemsys_string` spells it ``"Fe-Li-O"`` (MP's order).
* :func:`to_composition` — a formula / mapping / ``Composition`` → a checked ``Composition``;
  :func:`reduce_composition` its reduced composition.
* :func:`formula` — **the** spelling of a composition wherever genflow stores or hashes one
  (campaign conditions, generator provenance, scan results, the candidate's ``formula``).
* :func:`reduced_formula` — pymatgen's reduced formula (what MP and the hulls key on).
* :func:`unknown_symbols` / :func:`unknown_elements_message` — the one "unknown element"
  check: pymatgen reads a symbol such as ``Xx`` as a ``DummySpecies`` instead of failing.

Spelling, and why
-----------------
:func:`formula` writes the composition's integer counts **as given** (never reduced: an
exact-composition condition ``Sr2Ti2O6`` is a 10-atom cell, not ``SrTiO3``) in pymatgen's
element order (electronegativity, as ``Composition.formula``), with no spaces and no ``1``:
``"BaTiO3"``, ``"Sr2Ti2O6"``, ``"Si4C4"``. It is what people type, it equals
``Composition.reduced_formula`` for a reduced composition (except pymatgen's special cases,
``LiO`` → ``Li2O2``, which change the counts and are therefore not used), it parses back to the
same counts, and it is one string per composition, so ``candidate_id`` (which hashes the
conditioning) no longer depends on whether a caller wrote ``"Ba1 Ti1 O3"``, ``"Ba1Ti1O3"`` or
``"BaTiO3"``. :func:`reduced_formula` stays pymatgen's own, because reference hulls and the
Materials Project key on it.

Parsing speed
-------------
Reference tables hold 10^4–10^6 plain formulas such as GNoME's ``Ac2Ag1Ir1``; parsing them with
a regular expression is ~20x faster than building a pymatgen ``Composition`` each, so plain
formulas take that path and anything else (parentheses, hydrates, dicts) goes to pymatgen.
Both paths give the same element → amount mapping. Reduced formulas of integer compositions
are computed here with pymatgen's own rules (``reduce_formula``: electronegativity order,
polyanion grouping, special formulas) without building a ``Composition`` (~10x faster, and
hot when every candidate is new); anything else goes to pymatgen. A test checks both agree.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from pymatgen.core import Composition, Element

__all__ = [
    "CompositionError",
    "chemsys_string",
    "formula",
    "parse_chemsys",
    "parse_composition",
    "reduce_composition",
    "reduced_formula",
    "to_composition",
    "unknown_elements_message",
    "unknown_symbols",
]

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)?"
#: One token of a plain formula with parentheses: element + amount, "(", or ")" + factor.
_TOKEN = re.compile(rf"([A-Z][a-z]?){_NUMBER}|(\()|(\)){_NUMBER}")
_SYMBOLS = frozenset(el.symbol for el in Element)


class CompositionError(ValueError):
    """A composition that cannot be scored: malformed, unknown element or non-positive amount."""


def unknown_symbols(symbols: Iterable[Any]) -> list[str]:
    """Sorted distinct symbols that are not chemical elements (``Xx``, ``D``, ``Abc``, ...).

    Species such as ``Fe2+`` or ``DummySpecies('Xx')`` count by their ``symbol``.
    """
    names = {str(getattr(s, "symbol", s)) for s in symbols}
    return sorted(names - _SYMBOLS)


def unknown_elements_message(unknown: Sequence[str]) -> str:
    """``"unknown element Xx"`` / ``"unknown elements Qq, Xx"``: the one wording."""
    return f"unknown element{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"


def _check(amounts: dict[str, float], source: Any) -> tuple[tuple[str, float], ...]:
    if unknown := unknown_symbols(amounts):
        raise CompositionError(f"{unknown_elements_message(unknown)} in composition {source!r}")
    if not amounts:
        raise CompositionError(f"empty composition {source!r}")
    for el, amt in amounts.items():
        if not math.isfinite(amt) or amt < 0:
            raise CompositionError(f"bad amount {amt!r} of {el} in composition {source!r}")
    amounts = {el: amt for el, amt in amounts.items() if amt > 0}
    if not amounts:
        raise CompositionError(f"composition {source!r} has no atoms")
    return tuple(sorted(amounts.items()))


def _amounts(comp: Composition) -> dict[str, float]:
    """Element symbol → amount; species such as Fe3+ count as their element."""
    out: dict[str, float] = {}
    for el, amt in comp.items():
        symbol = getattr(el, "symbol", str(el))
        out[symbol] = out.get(symbol, 0.0) + float(amt)
    return out


def _parse_plain(text: str) -> dict[str, float] | None:
    """Element → amount of a formula made of symbols, amounts and (nested) parentheses.

    None when the text holds anything else (hydrates, charges, brackets, ...) or is malformed:
    pymatgen decides those.
    """
    stack: list[dict[str, float]] = [{}]
    pos = 0
    for match in _TOKEN.finditer(text):
        if match.start() != pos:
            return None
        pos = match.end()
        sym, num, opening, _, factor = match.groups()
        if sym:
            stack[-1][sym] = stack[-1].get(sym, 0.0) + (float(num) if num else 1.0)
        elif opening:
            stack.append({})
        elif len(stack) == 1:
            return None
        else:
            inner, scale = stack.pop(), float(factor) if factor else 1.0
            for el, amt in inner.items():
                stack[-1][el] = stack[-1].get(el, 0.0) + amt * scale
    if pos == 0 or pos != len(text) or len(stack) != 1:
        return None
    return stack[0]


@lru_cache(maxsize=500_000)
def _parse_str(formula: str) -> tuple[tuple[str, float], ...]:
    text = formula.strip()
    amounts = _parse_plain("".join(text.split()))  # "Fe2 O3" (pymatgen's .formula) too
    if amounts is not None:
        return _check(amounts, formula)
    # Element-like tokens pymatgen would misread (e.g. "Xx2") are reported as unknown elements.
    tokens = re.findall(r"[A-Z][a-z]*", text)
    if unknown := [t for t in unknown_symbols(tokens) if len(t) <= 2]:
        raise CompositionError(f"{unknown_elements_message(unknown)} in composition {formula!r}")
    try:
        comp = Composition(text)
    except Exception as exc:  # pymatgen raises ValueError/KeyError/... for malformed text
        raise CompositionError(f"malformed composition {formula!r}: {exc}") from exc
    return _check(_amounts(comp), formula)


def parse_composition(
    composition: str | Composition | Mapping[str, float],
) -> tuple[tuple[str, float], ...]:
    """Parse a composition into sorted ``(element, amount)`` pairs.

    Parameters
    ----------
    composition : str, Composition or mapping
        A formula (``"Fe2O3"``, ``"Ac2Ag1Ir1"``, ``"Li(FePO4)"``), a pymatgen ``Composition``
        or an element → amount mapping.

    Returns
    -------
    tuple of (str, float)
        Element symbols in alphabetical order with their (positive) amounts.

    Raises
    ------
    CompositionError
        If the text is malformed, names an unknown element, or has no positive amount.
    """
    if isinstance(composition, str):
        return _parse_str(composition)
    if isinstance(composition, Composition):
        return _check(_amounts(composition), composition)
    if isinstance(composition, Mapping):
        try:
            amounts = {str(el): float(amt) for el, amt in composition.items()}
        except (TypeError, ValueError) as exc:
            raise CompositionError(f"malformed composition {composition!r}: {exc}") from exc
        return _check(amounts, composition)
    raise CompositionError(f"malformed composition {composition!r}: not a formula or mapping")


@lru_cache(maxsize=1)
def _electronegativity() -> dict[str, float]:
    """Pauling electronegativity per symbol (inf where pymatgen has none: noble gases)."""
    with warnings.catch_warnings():
        # Noble gases have no Pauling electronegativity; pymatgen warns and returns NaN.
        warnings.simplefilter("ignore", UserWarning)
        return {el.symbol: (math.inf if math.isnan(el.X) else float(el.X)) for el in Element}


def _format_amount(amount: float) -> str:
    """pymatgen ``formula_double_format``: "" for 1, integers plain, else 8 decimals."""
    if math.isclose(amount, 1, abs_tol=1e-8):
        return ""
    if math.isclose(amount, round(amount), abs_tol=1e-8, rel_tol=0):
        return str(round(amount))
    return str(round(amount, 8))


@lru_cache(maxsize=100_000)
def _formula_order(symbols: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """pymatgen's formula order (electronegativity, then symbol) and whether the last two
    elements may form a polyanion (electronegativity gap < 1.65)."""
    x = _electronegativity()
    order = tuple(sorted(symbols, key=lambda s: (x[s], s)))
    # Noble gases sort last (inf); inf - x and inf - inf (NaN) fail the test as pymatgen's NaN.
    return order, len(order) >= 3 and x[order[-1]] - x[order[-2]] < 1.65


def _reduce_integer(amounts: dict[str, int]) -> tuple[str, int]:
    """pymatgen ``composition.reduce_formula`` for positive integer amounts."""
    syms, polyanion = _formula_order(tuple(sorted(amounts)))
    factor = math.gcd(*amounts.values())
    poly = ""
    if polyanion:
        pair = {s: amounts[s] // factor for s in syms[-2:]}
        poly_form, poly_factor = _reduce_integer(pair)
        if poly_factor != 1:
            poly = f"({poly_form}){poly_factor}"
            syms = syms[:-2]
    return "".join(s + _format_amount(amounts[s] / factor) for s in syms) + poly, factor


def reduced_formula(composition: Any) -> str:
    """Pymatgen's reduced formula (``"Fe2O3"``, special cases such as ``"Li2O2"`` included).

    ``composition`` is anything :func:`parse_composition` takes, or its ``(element, amount)``
    pairs (the fast, cached path of the hull engine).
    """
    if not _is_pairs(composition):
        composition = parse_composition(composition)
    return _reduced_formula(composition)


def _is_pairs(value: Any) -> bool:
    return isinstance(value, tuple) and all(
        isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in value
    )


@lru_cache(maxsize=500_000)
def _reduced_formula(pairs: tuple[tuple[str, float], ...]) -> str:
    if all(a >= 0.5 and abs(a - round(a)) < Composition.amount_tolerance for _, a in pairs):
        text, _ = _reduce_integer({el: round(a) for el, a in pairs})
        return Composition.special_formulas.get(text, text)
    with warnings.catch_warnings():
        # Noble gases have no Pauling electronegativity; pymatgen warns while ordering them.
        warnings.simplefilter("ignore", UserWarning)
        return Composition(dict(pairs)).reduced_formula


def parse_chemsys(chemsys: str | Iterable[str]) -> tuple[str, ...]:
    """Elements of a chemical system as a sorted tuple without duplicates.

    Parameters
    ----------
    chemsys
        ``"Li-Fe-O"``, ``"Li Fe O"``, ``"Li,Fe,O"`` or ``["Li", "Fe", "O"]``.

    Raises
    ------
    ValueError
        Empty, or naming a symbol that is not an element (the message names it).

    >>> parse_chemsys("Li-Fe-O")
    ('Fe', 'Li', 'O')
    """
    if isinstance(chemsys, str):
        parts = chemsys.replace(",", " ").replace("-", " ").split()
    else:
        parts = [str(p).strip() for p in chemsys]
    if not parts:
        raise ValueError(f"empty chemical system {chemsys!r}")
    if unknown := unknown_symbols(parts):
        raise ValueError(f"chemical system {chemsys!r}: {unknown_elements_message(unknown)}")
    return tuple(sorted(set(parts)))


def chemsys_string(chemsys: str | Iterable[str]) -> str:
    """``"Fe-Li-O"``: the sorted, dash-joined spelling of a chemical system."""
    return "-".join(parse_chemsys(chemsys))


def to_composition(value: str | Composition | Mapping[str, float]) -> Composition:
    """A checked pymatgen ``Composition`` (atoms present, every symbol an element).

    Raises
    ------
    CompositionError
        Malformed, unknown element (pymatgen would silently make a ``DummySpecies``), no atoms.
    """
    return Composition(dict(parse_composition(value)))


def reduce_composition(value: str | Composition | Mapping[str, float]) -> Composition:
    """The reduced composition (``Ba2Ti2O6`` → ``BaTiO3``) of a checked composition."""
    return to_composition(value).reduced_composition


def formula(value: str | Composition | Mapping[str, float]) -> str:
    """The one stored spelling of a composition: counts kept, pymatgen order, no spaces or 1s.

    See the module docstring for why. ``"Ba1 Ti1 O3"``, ``"Ba1Ti1O3"`` and ``"TiBaO3"`` all
    give ``"BaTiO3"``; ``"Sr2Ti2O6"`` stays ``"Sr2Ti2O6"``.

    >>> formula("O3 Ti1 Ba1"), formula({"Li": 1, "O": 1})
    ('BaTiO3', 'LiO')
    """
    comp = to_composition(value)
    out = []
    for token in comp.formula.split():
        el = token.rstrip("0123456789.")
        out.append(el + _format_amount(float(token[len(el) :])))
    return "".join(out)
