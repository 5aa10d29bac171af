"""The Pipedrive plugin: reads deals (v2 API), writes reminder activities and notes, receives deal webhooks,
shows invoices in a deal panel, and ships a local emulator of the Pipedrive API (``create_sandbox``)."""

from .client import PipedriveClient
from .config import PipedriveConfig
from .errors import FieldNotFound, MalformedWebhook
from .fields import find_field
from .webhooks import register_webhooks

__all__ = ["FieldNotFound", "MalformedWebhook", "PipedriveClient", "PipedriveConfig", "create_sandbox",
           "find_field", "register_webhooks"]


def __getattr__(name: str):
    if name == "create_sandbox":  # the sandbox pulls in jinja2; import it only when asked for
        from .sandbox import create_sandbox

        return create_sandbox
    raise AttributeError(name)
