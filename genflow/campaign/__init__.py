"""The campaign layer: spec, runner, FireWorks submit, nightly, status, hits.

It drives ``genflow.workflows`` with ``genflow.model`` and ``genflow.hull`` on top of
``genflow.core``; the evaluation layer and the command line (``genflow.cli``) sit on top of it.
"""
