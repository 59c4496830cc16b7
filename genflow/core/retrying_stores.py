"""maggma stores whose round trips ride out a database outage (:mod:`genflow.core.retry`).

jobflow writes job outputs through maggma: a standalone MongoDB (and the embedded server)
does not retry writes, so an operation caught by a restart would fail its job and lose a
result. These subclasses wrap each call maggma makes to the database in
:func:`~genflow.core.retry.retry_call`; every call is safe to repeat (``update`` replaces on the
store's key, GridFS keeps the newest copy). The local runner's JobStore is built from them;
workers on a replica set get the same from MongoDB's own retryable writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from maggma.stores import GridFSStore, MongoStore

from genflow.core.retry import retry_call

__all__ = ["RetryingGridFSStore", "RetryingMongoStore"]


class _Retrying:
    """Mixin: retry the database calls of a maggma store (materialising query results)."""

    # super(_Retrying, self): a zero-argument super() does not work inside the lambdas.
    def query(self, *args: Any, **kwargs: Any) -> Iterator[dict]:
        parent = super()
        yield from retry_call(lambda: list(parent.query(*args, **kwargs)), what=f"query {self}")

    def count(self, *args: Any, **kwargs: Any) -> int:
        parent = super()
        return retry_call(lambda: parent.count(*args, **kwargs), what=f"count {self}")

    def distinct(self, *args: Any, **kwargs: Any) -> list:
        parent = super()
        return retry_call(lambda: parent.distinct(*args, **kwargs), what=f"distinct {self}")

    def update(self, *args: Any, **kwargs: Any) -> Any:
        parent = super()
        return retry_call(lambda: parent.update(*args, **kwargs), what=f"update {self}")

    def remove_docs(self, *args: Any, **kwargs: Any) -> Any:
        parent = super()
        return retry_call(lambda: parent.remove_docs(*args, **kwargs), what=f"remove from {self}")

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.database}.{self.collection_name})"


class RetryingMongoStore(_Retrying, MongoStore):
    """A maggma ``MongoStore`` that retries across an outage."""


class RetryingGridFSStore(_Retrying, GridFSStore):
    """A maggma ``GridFSStore`` that retries across an outage."""
