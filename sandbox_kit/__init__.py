"""The emulator kit: what every backend's sandbox needs besides its own resources.

An OAuth 2.0 authorization server (:mod:`.oauth`), rate limits (:mod:`.limits`), a signed webhook outbox
(:mod:`.outbox`), idempotency replay (:mod:`.idempotency`), fault switches (:mod:`.faults`), a request log
(:mod:`.requestlog`), the test knobs over both (:mod:`.knobs`), a transport that can lose answers after the work is
done (:mod:`.transport`), a simulated clock (:mod:`.clock`) and console scaffolding (:mod:`.console`). A sandbox
built on it follows :class:`invoicebridge.core.sandboxes.Sandbox` and is offered through the
``invoicebridge_sandboxes`` hook. Ships in the ``invoicebridge[sandbox]`` extra.
"""

from invoicebridge.core.sandboxes import DemoOffer, Sandbox

from .clock import SimulatedClock, utcnow
from .faults import Faults
from .idempotency import IdempotencyStore, KeyReused
from .knobs import SandboxKnobs
from .limits import Concurrency, Limiter, Rejection, Window
from .oauth import AuthorizationServer, Connection, Grant, OAuthError, TokenRejected, basic_credentials, s256
from .outbox import Delivery, Outbox
from .requestlog import RequestLog
from .transport import LossyTransport

__all__ = ["AuthorizationServer", "Concurrency", "Connection", "Delivery", "DemoOffer", "Faults", "Grant",
           "IdempotencyStore", "KeyReused", "Limiter", "LossyTransport", "OAuthError", "Outbox", "Rejection", "RequestLog", "Sandbox",
           "SandboxKnobs",
           "SimulatedClock", "TokenRejected", "Window", "basic_credentials", "s256", "utcnow"]
