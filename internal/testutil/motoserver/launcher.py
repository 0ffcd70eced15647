"""moto_server with DynamoDB's per-item atomicity (a test server, not AWS).

DynamoDB promises that a write to one item is atomic: a ConditionExpression is
evaluated and the write applied as one step, so of two conditional updates that
race on one item, at most one sees the old value. A transaction is atomic as a
whole, and a read returns an item as it was before or after a write, never half
of one. moto_server serves every request on its own thread and its DynamoDB
backend evaluates a condition and then writes without a lock, so two "start a
new window" updates can both succeed: the test server breaks a promise the real
service keeps, and tests of cfgate's atomic counters fail at random.

This launcher is a stand-in for that guarantee of the real service, nothing
more: it runs every DynamoDB data-plane call (reads, writes, transactions,
PartiQL) and table create/delete under one process-wide lock, then runs the
ordinary moto server. One lock for all items is stricter than DynamoDB (which
serialises per item) and slower, never weaker. Nothing in cfgate's product code
depends on it.

Usage: python3 launcher.py [-H 127.0.0.1] -p PORT  (same flags as moto_server)
Other launchers import this module and call install() before main().
"""

import functools
import sys
import threading

from moto.dynamodb import models

_lock = threading.RLock()

# Every DynamoDBBackend method that reads or writes items or tables. The
# response layer's BatchWriteItem calls put_item/delete_item once per item,
# which matches DynamoDB: a batch is atomic per item, not as a whole.
LOCKED_METHODS = (
    "create_table",
    "delete_table",
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "batch_get_item",
    "transact_write_items",
    "transact_get_items",
    "execute_statement",
    "batch_execute_statement",
    "execute_transaction",
)

_installed = False


def _locked(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    return wrapper


def install():
    """Patch moto's DynamoDB backend in this process (idempotent)."""
    global _installed
    if _installed:
        return
    backend = models.DynamoDBBackend
    for name in LOCKED_METHODS:
        method = getattr(backend, name, None)
        if method is None:
            raise SystemExit(f"launcher: moto's DynamoDBBackend has no {name}; update LOCKED_METHODS for this moto version")
        setattr(backend, name, _locked(method))
    _installed = True


if __name__ == "__main__":
    install()
    from moto.server import main

    main(sys.argv[1:])
