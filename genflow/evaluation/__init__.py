"""Evaluation: proxy metrics, CSP metrics, head-to-head comparisons and reports.

The top layer beside ``genflow.campaign``: it may import the core, model, hull and workflows;
nothing below imports it (``tests/test_layering.py``).
"""
