"""``genflow web``: a live, read-only view of the database in the browser.

Campaigns with their state and funnel, failures grouped by reason, the hits table, one page
per candidate with its trace and a 3D view of its relaxed structure, and the report's plots.
A top room beside :mod:`genflow.cli`: it may import every room below and none imports it.
"""

from __future__ import annotations

from genflow.web.app import WebConfigError, check_bind, create_app, is_loopback
from genflow.web.serve import serve

__all__ = ["WebConfigError", "check_bind", "create_app", "is_loopback", "serve"]
