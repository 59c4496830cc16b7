"""A crystal structure as an interactive 3D scene: plotly.js traces for the hit page.

The viewer is plotly.js as shipped inside the ``plotly`` wheel (``plotly/package_data``; plotly
is already a pymatgen dependency), served by genflow itself, so the page loads nothing from
the network. The scene is built here, in Python, from the pymatgen structure: one sphere per
site (Jmol colours and covalent radii from ``ase.data``), the periodic images that sit on the
cell's faces, edges and corners (so a rock-salt cell looks like one), bonds between sites
closer than the sum of their covalent radii plus a tolerance, and the 12 cell edges. Rotate,
zoom and hover (element, fractional coordinates) come with plotly's WebGL scene.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

__all__ = ["lattice_summary", "structure_figure"]

#: fractional coordinate within this of 0 or 1 counts as on a face (its image is drawn too)
_FACE_TOL = 0.02
#: a bond is drawn when the distance is below (r_cov,a + r_cov,b) × this
_BOND_SCALE = 1.15
#: marker size (px) per Å of covalent radius
_PX_PER_ANGSTROM = 16.0


def _colour(z: int) -> str:
    from ase.data.colors import jmol_colors

    r, g, b = (round(255 * float(c)) for c in jmol_colors[z])
    return f"rgb({r},{g},{b})"


def _images(frac: np.ndarray) -> list[np.ndarray]:
    """The site's fractional position and its images on the cell's faces/edges/corners."""
    shifts = []
    for coord in frac:
        options = [0.0]
        if abs(coord) < _FACE_TOL:
            options.append(1.0)
        elif abs(coord - 1.0) < _FACE_TOL:
            options.append(-1.0)
        shifts.append(options)
    return [frac + np.array(s) for s in itertools.product(*shifts)]


def _cell_edges(matrix: np.ndarray) -> tuple[list, list, list]:
    """x, y, z lists (None-separated) of the 12 edges of the unit cell."""
    corners = {c: np.array(c, float) @ matrix for c in itertools.product((0, 1), repeat=3)}
    xs: list[float | None] = []
    ys: list[float | None] = []
    zs: list[float | None] = []
    for a, b in itertools.combinations(corners, 2):
        if sum(x != y for x, y in zip(a, b, strict=True)) == 1:  # neighbours differ in one axis
            for p in (corners[a], corners[b]):
                xs.append(float(p[0]))
                ys.append(float(p[1]))
                zs.append(float(p[2]))
            xs.append(None)
            ys.append(None)
            zs.append(None)
    return xs, ys, zs


def structure_figure(structure: dict[str, Any]) -> dict[str, Any]:
    """A plotly figure (``{"data": [...], "layout": {...}}``) of a pymatgen structure dict.

    Parameters
    ----------
    structure
        ``Structure.as_dict()`` as stored on the candidate (``relax.structure`` or
        ``structure``).

    Returns
    -------
    dict
        JSON-ready figure: one scatter3d trace per element (legend = composition), one for
        bonds, one for the cell; axes in Å, equal aspect.
    """
    from ase.data import covalent_radii
    from pymatgen.core import Structure

    s = Structure.from_dict(structure)
    matrix = s.lattice.matrix
    points: dict[str, dict[str, list]] = {}
    drawn: list[tuple[np.ndarray, float]] = []
    for site in s:
        el = site.specie.symbol if hasattr(site.specie, "symbol") else str(site.specie)
        z = int(site.specie.Z)
        radius = float(covalent_radii[z])
        trace = points.setdefault(el, {"x": [], "y": [], "z": [], "text": [], "z_num": [z]})
        for frac in _images(np.asarray(site.frac_coords, float)):
            cart = frac @ matrix
            trace["x"].append(float(cart[0]))
            trace["y"].append(float(cart[1]))
            trace["z"].append(float(cart[2]))
            trace["text"].append(f"{el} ({frac[0]:.3f}, {frac[1]:.3f}, {frac[2]:.3f})")
            drawn.append((cart, radius))
    data: list[dict[str, Any]] = []
    for el, t in sorted(points.items()):
        z = t["z_num"][0]
        data.append(
            {
                "type": "scatter3d",
                "mode": "markers",
                "name": el,
                "x": t["x"],
                "y": t["y"],
                "z": t["z"],
                "text": t["text"],
                "hoverinfo": "text",
                "marker": {
                    "size": max(6.0, _PX_PER_ANGSTROM * float(covalent_radii[z])),
                    "color": _colour(z),
                    "opacity": 1.0,
                    "line": {"width": 1, "color": "rgb(60,60,60)"},
                },
            }
        )
    bx: list[float | None] = []
    by: list[float | None] = []
    bz: list[float | None] = []
    xyz = np.array([p for p, _ in drawn]).reshape(-1, 3)
    radii = np.array([r for _, r in drawn])
    dist = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=-1)
    bonded = (dist > 0.1) & (dist < _BOND_SCALE * (radii[:, None] + radii[None, :]))
    for i, j in zip(*np.nonzero(np.triu(bonded, k=1)), strict=True):
        p, q = xyz[i], xyz[j]
        bx += [float(p[0]), float(q[0]), None]
        by += [float(p[1]), float(q[1]), None]
        bz += [float(p[2]), float(q[2]), None]
    if bx:
        data.append(
            {
                "type": "scatter3d", "mode": "lines", "name": "bonds", "x": bx, "y": by, "z": bz,
                "hoverinfo": "skip", "line": {"color": "rgb(150,150,150)", "width": 4},
            }
        )  # fmt: skip
    cx, cy, cz = _cell_edges(matrix)
    data.append(
        {
            "type": "scatter3d", "mode": "lines", "name": "cell", "x": cx, "y": cy, "z": cz,
            "hoverinfo": "skip", "line": {"color": "rgb(30,30,30)", "width": 3},
        }
    )  # fmt: skip
    axis = {"title": {"text": ""}, "showbackground": False, "showgrid": False,
            "zeroline": False, "showticklabels": False, "showspikes": False}  # fmt: skip
    layout = {
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "showlegend": True,
        "legend": {"x": 0.01, "y": 0.99},
        "scene": {"xaxis": axis, "yaxis": axis, "zaxis": axis, "aspectmode": "data"},
        "paper_bgcolor": "white",
    }
    return {"data": data, "layout": layout}


def lattice_summary(structure: dict[str, Any]) -> dict[str, Any]:
    """Lattice lengths (Å), angles (°), volume (Å³), density and space group of a structure."""
    from pymatgen.core import Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    s = Structure.from_dict(structure)
    lat = s.lattice
    try:
        sga = SpacegroupAnalyzer(s, symprec=0.1)
        spacegroup = f"{sga.get_space_group_symbol()} ({sga.get_space_group_number()})"
    except Exception as exc:  # spglib refuses broken cells; the page still shows the rest
        spacegroup = f"unknown ({type(exc).__name__})"
    return {
        "formula": s.composition.reduced_formula,
        "nsites": len(s),
        "a": lat.a, "b": lat.b, "c": lat.c,
        "alpha": lat.alpha, "beta": lat.beta, "gamma": lat.gamma,
        "volume": lat.volume,
        "density": float(s.density),
        "spacegroup": spacegroup,
    }  # fmt: skip
