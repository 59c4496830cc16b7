"""Python-literal text (``str(structure.as_dict())``) read without ``eval``.

Some generators write a pymatgen structure dict into a table with ``str(dict)`` instead of
JSON: single quotes, tuples (``'pbc': (True, True, True)``), ``nan``, and — from NumPy 2 on —
scalars printed as ``np.float64(5.6)`` and arrays as ``array([0. , 0.5])``. ``ast.literal_eval``
refuses the NumPy forms, and ``eval`` would run whatever a downloaded file holds. This module
walks the parsed syntax tree and accepts only literals, the names ``nan``/``inf``, and calls of
a short list of NumPy wrappers around a literal.
"""

from __future__ import annotations

import ast
import math
from typing import Any

__all__ = ["python_literal"]

#: ``nan``/``inf`` are how ``repr`` writes non-finite floats; the rest are keywords.
_NAMES: dict[str, Any] = {
    "nan": math.nan, "inf": math.inf, "NaN": math.nan, "Infinity": math.inf,
    "True": True, "False": False, "None": None,
}  # fmt: skip
#: NumPy scalar types as NumPy 2 prints them (``np.float64(1.5)``), and the builtins, by
#: what each turns its argument into.
_SCALARS: dict[str, type] = {
    **dict.fromkeys(("float64", "float32", "float16", "longdouble", "float"), float),
    **dict.fromkeys(
        ("int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8", "int"), int
    ),
    **dict.fromkeys(("bool_", "bool"), bool),
    **dict.fromkeys(("str_", "str"), str),
}
#: ``array([...])`` (repr of an ndarray) and its ``np.`` spelling; its ``dtype=`` is ignored.
_ARRAYS = frozenset({"array", "asarray"})
_MODULES = frozenset({"np", "numpy"})


def python_literal(text: str) -> Any:
    """The value written by ``repr``/``str`` of plain data, NumPy scalars and arrays included.

    Tuples and arrays come back as lists; NumPy scalars as Python numbers. Nothing is called
    or looked up: any other name, call, operator or attribute raises ``ValueError``.

    >>> python_literal("{'abc': (0.5, np.float64(0.25)), 'x': array([1., 2.]), 'y': -inf}")
    {'abc': [0.5, 0.25], 'x': [1.0, 2.0], 'y': -inf}
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not a Python literal: {exc.msg} (line {exc.lineno})") from None
    return _value(tree.body)


def _value(node: ast.AST) -> Any:
    """One node's value, or ``ValueError`` naming what is not a literal."""
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:  # NumPy elides long arrays with '...': the data is gone
            raise ValueError("an array printed with '...' (NumPy left out its middle)")
        return node.value
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise ValueError("'**' in a dict is not a literal")
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.List | ast.Tuple):
        return [_value(item) for item in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        number = _value(node.operand)
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"a sign before a non-number: {ast.unparse(node)[:60]}")
        return -number if isinstance(node.op, ast.USub) else number
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    attribute = isinstance(node, ast.Attribute) and node.attr in ("nan", "inf")
    if attribute and _dotted(node.value) in _MODULES:  # np.nan, numpy.inf
        return _NAMES[node.attr]
    if isinstance(node, ast.Call):
        return _call(node)
    raise ValueError(f"not a literal: {ast.unparse(node)[:60]!r}")


def _call(node: ast.Call) -> Any:
    """``np.float64(x)``, ``array([...], dtype=...)`` and the like, around a literal."""
    name = _dotted(node.func)
    module, _, func = name.rpartition(".")
    if (module and module not in _MODULES) or func not in _ARRAYS | _SCALARS.keys():
        raise ValueError(f"not a literal: call of {name!r}")
    if len(node.args) != 1 or any(k.arg != "dtype" for k in node.keywords):
        raise ValueError(f"not a literal: {ast.unparse(node)[:60]!r}")
    if func in _ARRAYS:
        value = _value(node.args[0])
        if not isinstance(value, list):
            raise ValueError(f"array of a non-list: {ast.unparse(node)[:60]!r}")
        return value
    return _SCALARS[func](_value(node.args[0]))


def _dotted(node: ast.AST) -> str:
    """``np.float64`` for the attribute chain ``np.float64``; ``""`` for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)):
        return f"{base}.{node.attr}"
    return ""
