"""Which CRM ids (deals, pipelines, stages) core accepts: one rule, refused with a 400 naming the id.

Core is neutral about the shape of ids. A CRM backend declares its own in :class:`BackendInfo` (``id_pattern``,
a regular expression an id matches in full, and ``id_description`` in words); without one the rule is
:data:`DEFAULT_ID_PATTERN`, 1 to 64 letters and digits. An id that does not match is never sent to the CRM: a
request naming one is refused (400), and a bulk run reports it as refused and runs the other deals.
"""

from __future__ import annotations

import re

import attrs

from .errors import InvoiceBridgeError
from .i18n import LazyText, _
from .model import Role

DEFAULT_ID_PATTERN = r"[A-Za-z0-9]{1,64}"
MAX_INTEGER_ID = 10**18 - 1


class BadId(InvoiceBridgeError):
    status_code = 400


@attrs.frozen
class IdRule:
    pattern: str = DEFAULT_ID_PATTERN
    description: str = ""
    label: str = ""  # the CRM's name, for messages

    def problem(self, value: object, what: str | LazyText) -> str | None:
        """Why ``value`` is not an id (``what`` names it: "deal_ids", "pipeline_id", "Deal id"), or None."""
        text = as_text(value)
        if text is not None and re.fullmatch(self.pattern, text):
            return None
        shown = repr(text[:64] if text is not None else value)
        if self.description and self.label:
            return _("%(what)s %(value)s is refused: %(crm)s ids are %(description)s") % {
                "what": what, "value": shown, "crm": self.label, "description": self.description}
        return _("%(what)s %(value)s is refused: ids are 1 to 64 letters and digits") % {"what": what, "value": shown}

    def check(self, value: object, what: str | LazyText) -> str:
        problem = self.problem(value, what)
        if problem:
            raise BadId(problem)
        return as_text(value) or ""

    @property
    def openapi_pattern(self) -> str:
        return f"^(?:{self.pattern})$"


def as_text(value: object) -> str | None:
    """An id as text: a string as it is; an id given as a JSON number (``7``, or ``7.0``, which JSON Schema counts
    as the integer 7) when it is a whole number from 1, as its digits; anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_INTEGER_ID:
        return str(value)
    return None


def id_rule(runtime, plugins) -> IdRule:
    """The connected CRM's rule (the default one when no CRM is connected or it declares none)."""
    conn = runtime.maybe_connection(Role.CRM)
    if conn is None:
        return IdRule()
    kept = runtime.cache.get(("id-rule", conn.backend))  # a backend's declared ids do not change while it runs
    if kept is None:
        kept = runtime.cache[("id-rule", conn.backend)] = _rule_of(conn, plugins)
    return kept


def _rule_of(conn, plugins) -> IdRule:
    try:
        info = plugins.backend(conn.backend)
    except InvoiceBridgeError:
        return IdRule()
    if not info.id_pattern:
        return IdRule(label=info.label)
    return IdRule(pattern=info.id_pattern, description=str(info.id_description), label=info.label or conn.backend)
