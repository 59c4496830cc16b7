"""The core every room builds on: settings, the candidate document, the store, structure I/O.

Nothing here imports ``genflow.campaign``, ``genflow.workflows``, ``genflow.model`` or
``genflow.hull`` (``tests/test_layering.py`` checks it, lazy imports included).
"""
