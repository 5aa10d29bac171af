"""Money, quantity and currency rules shared by the whole core.

One explicit rounding rule: amounts are quantised to two decimal places with ROUND_HALF_UP (what the
accounting APIs do for line amounts and tax), unit prices to four (the finest unit price accounting APIs keep) and quantities to
four. Money is always :class:`decimal.Decimal`, never ``float``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .i18n import _

CENT = Decimal("0.01")
UNIT = Decimal("0.0001")
QTY = Decimal("0.0001")
HUNDRED = Decimal(100)
ZERO = Decimal("0.00")

# ISO 4217 active codes (2026), less the testing and "no currency" codes, which no invoice uses. Kept as data: validating "a code the standard defines" must not depend on
# which currencies a particular accounting organisation has switched on; that is the catalog's job.
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
    KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN
    NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL
    SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
    VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
    """.split()
)


def to_decimal(value: object) -> Decimal:
    """Turn an int, str or Decimal into a Decimal; floats go through ``repr`` so 0.1 stays 0.1."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise TypeError(_("a boolean is not an amount"))
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(_("%(value)r is not a number") % {"value": value}) from None
    else:
        raise TypeError(_("%(type)s is not an amount") % {"type": type(value).__name__})
    if not result.is_finite():
        raise ValueError(_("%(value)r is not a finite number") % {"value": value})
    return result


def money(value: object) -> Decimal:
    """Quantise to cents, half up."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def unit_price(value: object) -> Decimal:
    return to_decimal(value).quantize(UNIT, rounding=ROUND_HALF_UP)


def quantity(value: object) -> Decimal:
    return to_decimal(value).quantize(QTY, rounding=ROUND_HALF_UP)


def currency_code(value: object) -> str:
    """Validate and normalise an ISO 4217 code ("eur" -> "EUR")."""
    if not isinstance(value, str):
        raise TypeError(_("a currency code is a string"))
    code = value.strip().upper()
    if code not in ISO_4217:
        raise ValueError(_("%(value)r is not an ISO 4217 currency code") % {"value": value})
    return code
