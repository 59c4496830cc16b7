"""The campaign layer: spec, runner, FireWorks submit, nightly, status, hits, CLI commands.

It drives ``genflow.workflows`` with ``genflow.model`` and ``genflow.hull`` on top of
``genflow.core``; no other part of genflow imports it.
"""
