"""Schemathesis over /api/openapi.json, in-process against the ASGI app with both sandboxes wired (as the
demo does), with every check it has and its stateful (OpenAPI links) phase: no server error, no status code
or response the document does not describe, no good input refused and no bad input accepted, every answer
within 10 s.

The example budget keeps the whole file well under a minute on two cores (about 25 s). The stateless cases are
derandomized, so a failure there reproduces (Schemathesis prints the case and a curl line); the stateful phase
draws which link values to use at random, so it explores a little differently each run."""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import PositiveDataAcceptanceConfig

from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo
from invoicebridge.sandbox_kit.clock import SimulatedClock

EXAMPLES = 15
STATEFUL_EXAMPLES = 20
SETTINGS = dict(deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck))


def _demo(tmp_path_factory):
    app, info = build_demo(AppConfig(data_dir=tmp_path_factory.mktemp("schemathesis"), port=8000, sync_interval=0))
    # simulated time for the app and both sandboxes: waits Xero's 60-a-minute limit asks for cost nothing
    clock = SimulatedClock(start=dt.datetime.now(dt.timezone.utc), scale=1.0)
    runtime = app.state.runtime
    runtime.now, runtime.sleep = clock.now, clock.sleep
    xero = app.state.sandboxes["xero"][1]
    xero.clock = xero.state.clock = xero.identity.clock = clock.now
    app.state.sandboxes["pipedrive"][1].state.sandbox.clock = clock.now
    return app, info


def _wired(tmp_path_factory):
    app, info = _demo(tmp_path_factory)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    schema.config.checks.update(max_response_time=10.0)
    # 422 is the API's documented answer for a well-formed request the deal or invoice cannot satisfy (no
    # organization to bill, a currency the organisation has not enabled, an item code it does not have): no
    # schema can say that, so it counts as a proper answer to schema-valid data; a 400 never does.
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=["2xx", "401", "403", "404", "409", "422", "429", "5xx"])
    schema.config.generation.update(max_examples=EXAMPLES)
    # the stateful phase follows the links the document declares (create -> the invoice, its PDF and its
    # commands; a bulk run -> its progress), not links guessed from field names
    schema.config.phases.stateful.inference.algorithms = []
    return schema, info


@pytest.fixture(scope="module")
def wired(tmp_path_factory):
    yield _wired(tmp_path_factory)
    from schemathesis.python.asgi import shutdown_lifespans

    shutdown_lifespans()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_every_operation_with_every_check(wired, mode):
    api_schema, info = wired
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, **SETTINGS)
        def call(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {info['api_key']}"})

        try:
            call()
        except (Exception, ExceptionGroup) as exc:  # every operation's finding at once, not just the first
            failures.append(f"== {operation.label}\n{exc}")
    assert not failures, "\n".join(failures)


def test_stateful_links_with_every_check(wired, tmp_path_factory):
    """Each scenario runs against a world of its own: Hypothesis replays scenarios, and a replay must meet the
    answers the first run met (a deal invoiced by an earlier scenario would answer 409 instead of 201)."""
    api_schema, _ = wired

    class Machine(api_schema.as_state_machine()):
        def setup(self):
            self.app, self.info = _demo(tmp_path_factory)

        def teardown(self):
            from schemathesis.python import asgi

            lifespan = asgi._LIFESPANS.pop(id(self.app), None)
            if lifespan is not None:
                lifespan.stop()

        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Bearer {self.info['api_key']}"}, "app": self.app}

    Machine.run(settings=settings(max_examples=STATEFUL_EXAMPLES, stateful_step_count=6, **SETTINGS))
