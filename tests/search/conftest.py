"""Fixtures of the structconv.search tests."""
import pytest

from tests.support.pg_server import PgServer, skip_reason


@pytest.fixture(scope="session")
def pg_url():
    """A private PostgreSQL server for the session (skipped, with the reason, where it cannot run)."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    server = PgServer()
    try:
        url = server.start()                 # binaries present but failing to start: an error, not a skip
    except BaseException:
        server.stop()
        raise
    try:
        yield url
    finally:
        server.stop()
