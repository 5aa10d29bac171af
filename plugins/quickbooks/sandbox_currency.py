"""Multicurrency in the QBO sandbox (fact sheet §3.1, §3.5, §9).

With ``Preferences.CurrencyPrefs.MultiCurrencyEnabled`` a customer may be given a ``CurrencyRef`` other than the
home currency; that currency is "the currency of all the customer's transactions" and is fixed once set. An
invoice's currency must equal its customer's (UNCERTAIN, expected). A foreign-currency invoice carries
``ExchangeRate`` (home units per one foreign unit) and the read-only ``HomeTotalAmt``/``HomeBalance``. Without
multicurrency every customer and invoice is in the home currency. Which currencies a company accepts, the rates and
the texts of the refusals are the sandbox's choices (SANDBOX.md knobs ``currencies``, ``exchange_rates``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from . import sandbox_faults as f

if TYPE_CHECKING:
    from .sandbox_state import QboState

CENT = Decimal("0.01")
CURRENCY_NAMES = {"USD": "United States Dollar", "GBP": "British Pound Sterling", "EUR": "Euro",
                  "CAD": "Canadian Dollar", "AUD": "Australian Dollar", "CHF": "Swiss Franc",
                  "JPY": "Japanese Yen", "SEK": "Swedish Krona", "NOK": "Norwegian Krone", "DKK": "Danish Krone"}
# home units per one foreign unit for a GBP home currency (made-up demo rates; the sandbox has no rate feed)
DEFAULT_RATES = {"EUR": Decimal("0.85"), "USD": Decimal("0.79"), "CAD": Decimal("0.57"), "AUD": Decimal("0.52"),
                 "CHF": Decimal("0.89")}


def enabled(state: QboState) -> bool:
    return bool(state.preferences.get("CurrencyPrefs", {}).get("MultiCurrencyEnabled"))


def ref(code: str) -> dict[str, str]:
    return {"value": code, "name": CURRENCY_NAMES.get(code, code)}


def _accepted(state: QboState, code: str, element: str) -> str:
    if code == state.home_currency():
        return code
    if not enabled(state):
        raise f.business(f"Multicurrency is not enabled for this company: {code} cannot be used; "
                         f"only the home currency {state.home_currency()}.", element=element)
    if code not in state.currencies:
        raise f.invalid_reference(element)
    return code


def customer_currency(state: QboState, row: dict[str, Any], current: dict[str, Any] | None) -> None:
    """Set the customer's ``CurrencyRef``: the home currency when none is given; never changed once set."""
    given = str((row.get("CurrencyRef") or {}).get("value") or "")
    if current is not None:
        fixed = str((current.get("CurrencyRef") or {}).get("value") or state.home_currency())
        if given and given != fixed:
            raise f.business("You can't change the currency of a customer once it has been set.",
                             element="CurrencyRef")
        row["CurrencyRef"] = ref(fixed)
        return
    row["CurrencyRef"] = ref(_accepted(state, given or state.home_currency(), "CurrencyRef"))


def invoice_currency(state: QboState, inv: dict[str, Any], customer: dict[str, Any]) -> None:
    """The invoice's ``CurrencyRef`` (the customer's when omitted, else it must match) and ``ExchangeRate``."""
    own = str((customer.get("CurrencyRef") or {}).get("value") or state.home_currency())
    currency = str((inv.get("CurrencyRef") or {}).get("value") or own)
    if currency != own:
        raise f.business("The currency of the transaction must match the customer's currency.",
                         element="CurrencyRef")  # UNCERTAIN (expected)
    _accepted(state, currency, "CurrencyRef")
    inv["CurrencyRef"] = ref(currency)
    if currency == state.home_currency():
        inv.pop("ExchangeRate", None)
        return
    rate = inv.get("ExchangeRate")
    try:
        value = Decimal(str(rate)) if rate is not None else state.exchange_rates.get(currency, Decimal(1))
    except ArithmeticError:
        raise f.business("ExchangeRate is not a number.", element="ExchangeRate") from None
    if value <= 0:
        raise f.business("ExchangeRate must be greater than zero.", element="ExchangeRate")
    inv["ExchangeRate"] = value


def home_total(inv: dict[str, Any]) -> None:
    """``HomeTotalAmt`` of a foreign-currency invoice: ``TotalAmt`` times the rate, in cents (rounding UNCERTAIN)."""
    rate = inv.get("ExchangeRate")
    if rate is None:
        inv.pop("HomeTotalAmt", None)
        return
    inv["HomeTotalAmt"] = (Decimal(str(inv["TotalAmt"])) * Decimal(str(rate))).quantize(CENT, rounding=ROUND_HALF_UP)


def home_balance(inv: dict[str, Any]) -> None:
    """``HomeBalance`` of a foreign-currency invoice: "the balance reflecting any payments made against the
    transaction in home currency. Initially this will be equal to the HomeTotalAmt" (Intuit's XSD, Invoice; read
    only, fact sheet §3.5): ``Balance`` times the rate, in cents like ``HomeTotalAmt``; 0 once paid in full.
    A home-currency invoice has neither (the XSD: single-currency companies do not have these fields)."""
    rate = inv.get("ExchangeRate")
    if rate is None:
        inv.pop("HomeBalance", None)
        return
    inv["HomeBalance"] = (Decimal(str(inv["Balance"])) * Decimal(str(rate))).quantize(CENT, rounding=ROUND_HALF_UP)
