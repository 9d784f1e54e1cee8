import os

from tests.reliability.counts import COUNTS_ENV, write


def pytest_sessionfinish(session, exitstatus):
    target = os.environ.get(COUNTS_ENV)
    if target:
        write(target)
