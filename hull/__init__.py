"""genflow package."""
