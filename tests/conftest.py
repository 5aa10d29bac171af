import pytest

from invoicebridge.core.store import Store


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "invoicebridge.db")
    try:
        yield s
    finally:
        s.close()
