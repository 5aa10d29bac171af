import httpx
import pipedrive_support
import pytest
import xero_support
from contract import ValidatingTransport


@pytest.fixture(scope="session")
def official_specs():
    return {"xero": xero_support.load_specs(), "pipedrive": pipedrive_support.load_specs()}


@pytest.fixture
def validate_demo(official_specs):
    """Put spec-validating transports between the demo app and its mounted sandboxes; fail on any violation."""
    made = []

    def wrap(app):
        runtime = app.state.runtime
        inner = httpx.ASGITransport(app=app)
        runtime.transports["xero"] = ValidatingTransport(inner, official_specs["xero"], xero_support.map_request)
        runtime.transports["pipedrive"] = ValidatingTransport(inner, official_specs["pipedrive"], pipedrive_support.map_request)
        made.extend([runtime.transports["xero"], runtime.transports["pipedrive"]])
        return runtime.transports

    yield wrap
    problems = [p for t in made for p in t.problems]
    assert not problems, "spec violations:\n" + "\n".join(problems)
    assert all(any(note == "validated" for _, _, note in t.log) for t in made), "no API call was checked"
