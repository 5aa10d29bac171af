"""The contract between a backend's sandbox (an emulator of its remote API) and the demo that mounts it.

A plugin offers sandboxes through the ``invoicebridge_sandboxes(runtime)`` hook, as objects that follow
:class:`Sandbox`; the demo mounts each ``app`` at its ``mount_path``, asks it for its :class:`DemoOffer` and
connects the way the offer says, without naming any backend. Sandboxes ship in the ``invoicebridge[sandbox]``
extra; a plugin imports its sandbox modules only inside that hook.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import httpx
from attrs import define, field


@define
class DemoOffer:
    """What a sandbox offers the demo.

    * ``config``: the backend's configuration (``runtime.config[name]``): client id and secret, authorize and
      token URLs, webhook secrets... pointing at the mounted sandbox;
    * ``connect``: ``"oauth"`` (the authorization-code flow with PKCE through the plugin's own hooks; the
      sandbox's authorize page approves at once) or ``"token"`` (``connect_with_token`` with ``token``);
    * ``info``: what the demo prints and writes to demo.json (URLs, credentials for trying the API by hand);
    * ``hints``: anything else the demo may use (a suggested record to try, ...);
    * ``mapping``: mapping settings to preset for the demo data (e.g. the seeded VAT field, the usual account);
    * ``label`` and ``console_hint``: how the demo's banner lists the sandbox ("Ledger … (close the books)").
    """

    config: dict[str, Any]
    connect: str = "oauth"
    token: str = ""
    info: dict[str, Any] = field(factory=dict)
    hints: dict[str, Any] = field(factory=dict)
    mapping: dict[str, Any] = field(factory=dict)
    label: str = ""
    console_hint: str = ""


@runtime_checkable
class Sandbox(Protocol):
    """An emulated remote API. ``name`` is the backend it emulates; ``app`` answers under ``mount_path``."""

    name: str
    mount_path: str

    @property
    def app(self) -> Any:  # an ASGI app
        ...

    def seed(self) -> None:
        """Load the demo data."""

    def reset(self) -> None:
        """Forget everything (state, grants, limits, outbox) and start empty."""

    def demo_offer(self, *, public_url: str, transport: httpx.AsyncBaseTransport, secrets: dict[str, str]) -> DemoOffer:
        """Point the sandbox at the demo (``public_url`` is the app's; outgoing webhooks go through
        ``transport``) and describe how to use it. ``secrets`` is a stable per-demo dict of random values the
        sandbox may use for its webhook keys (``secrets.setdefault(...)`` is fine: the demo keeps them)."""
