"""JSON- and BSON-safe values: NaN and ±inf become None.

JSON has no NaN (``--json`` output must parse anywhere), and a NaN stored in MongoDB matches
range queries in surprising ways, so every room writes non-finite numbers as null through
this one helper.

>>> finite_or_none({"e_d": float("nan"), "rows": [1.0, float("inf")], 3: "x"})
{'e_d': None, 'rows': [1.0, None], '3': 'x'}
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["finite_or_none"]


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf; numpy floats included) as None.

    Dicts (keys made ``str``) and lists are converted recursively; everything else is
    returned unchanged.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value
