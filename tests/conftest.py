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

# Hypothesis: "input generation is slow" measures the machine, not the code: on a loaded 2-core runner the deal
# strategies fail it while every property holds. The properties keep their example counts; only that check is off.
from hypothesis import HealthCheck, settings as _hypothesis_settings  # noqa: E402 (next to the comment saying why)

_hypothesis_settings.register_profile("invoicebridge", suppress_health_check=[HealthCheck.too_slow], deadline=None)
_hypothesis_settings.load_profile("invoicebridge")
