"""Waiting on a condition, never for a fixed time: the one polling helper of the tests that drive real
servers, containers and VMs (a loaded machine only makes the wait longer, never the test wrong)."""

import time


def wait_for(what, check, timeout=120.0, interval=0.5):
    """Poll ``check()`` until it returns something true, and return that; fail naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError('%s: not within %.0f s' % (what, timeout))
        time.sleep(interval)
