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
more: it handles every DynamoDB request (reads, writes, transactions, PartiQL,
table operations) under one process-wide lock, from parsing the request to
serialising the answer. The lock must cover the answer too: moto's UpdateItem
returns the live item and serialises ReturnValues after the backend call, so
an ADD that raced with another could return the other's count. One lock for
all items is stricter than DynamoDB (which serialises per item) and slower,
never weaker. Nothing in cfgate's product code depends on it.

Usage: python3 launcher.py [-H 127.0.0.1] -p PORT  (same flags as moto_server)
Other launchers import this module and call install() before main().
"""

import functools
import sys
import threading

from moto.dynamodb import responses

_lock = threading.RLock()
_installed = False


def install():
    """Patch moto's DynamoDB request handler in this process (idempotent)."""
    global _installed
    if _installed:
        return
    handler = responses.DynamoHandler
    call_action = handler.call_action

    @functools.wraps(call_action)
    def locked_call_action(self):
        with _lock:
            return call_action(self)

    handler.call_action = locked_call_action
    _installed = True


if __name__ == "__main__":
    install()
    from moto.server import main

    main(sys.argv[1:])
