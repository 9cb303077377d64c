"""The fault suite runs with `make test-faults` (SPOTCHECK_FAULTS=1), not in `make test`: it takes
minutes and starts its own PostgreSQL and NATS."""
import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("SPOTCHECK_FAULTS") == "1":
        return
    skip = pytest.mark.skip(reason="fault suite: run with `make test-faults`")
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(skip)
