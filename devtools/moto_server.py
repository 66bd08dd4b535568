"""``python -m moto.server``, with one emulator-only cost of TransactWriteItems removed.

moto 5's ``DynamoDBBackend.transact_write_items`` keeps a rollback copy of each
table it touches, but it makes that deep copy once per *action*, before any action
runs: a transaction of 22 counter updates copies the whole table 22 times, all the
copies identical, and the last one kept (3.1 s for a 1,000-item table on the 2-core
machine). DynamoDB has no such cost. Here each table is copied once per transaction;
what moto stores, returns and rolls back is unchanged (tests/test_moto_server.py).

Used by ``make run`` and ``make bench`` (devtools/backends.py starts it). If a moto
release changes the code this relies on, the patch is skipped with a warning and
the server runs as moto ships it: slower, never different.
"""

from __future__ import annotations

import copy
import functools
import sys
import threading
from collections.abc import Sequence
from typing import Any

_local = threading.local()


class _CopyEachTableOnce:
    """Stands in for the ``copy`` module inside moto.dynamodb.models.

    Inside one transact_write_items call (on this thread), a deep copy of a table it
    has already copied returns that copy; every other use is ``copy`` itself.
    """

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, x: Any, memo: dict[int, Any] | None = None) -> Any:
        backups: dict[int, Any] | None = getattr(_local, "backups", None)
        if backups is None or not isinstance(x, self._table_type):
            return copy.deepcopy(x, memo)
        if id(x) not in backups:
            backups[id(x)] = copy.deepcopy(x, memo)
        return backups[id(x)]


def patch() -> bool:
    """Apply the once-per-table copy to moto's DynamoDB backend; False if moto's code has changed."""
    from moto.dynamodb import models  # noqa: PLC0415

    backend = models.DynamoDBBackend
    original = backend.__dict__.get("transact_write_items")
    if getattr(original, "copies_each_table_once", False):
        return True
    if original is None or getattr(models, "copy", None) is not copy or not hasattr(models, "Table"):
        print("devtools.moto_server: moto's transact_write_items has changed; running it unpatched",
              file=sys.stderr)
        return False
    models.copy = _CopyEachTableOnce(models.Table)  # type: ignore[assignment]

    @functools.wraps(original)
    def transact_write_items(self: Any, *args: Any, **kwargs: Any) -> Any:
        _local.backups = {}
        try:
            return original(self, *args, **kwargs)
        finally:
            _local.backups = None

    transact_write_items.copies_each_table_once = True  # type: ignore[attr-defined]
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    return True


def main(argv: Sequence[str] | None = None) -> None:
    from moto import server  # noqa: PLC0415

    patch()
    server.main(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
