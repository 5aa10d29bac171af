"""The catalog: what the accounting backend offers (items, tax rates, accounts, themes), used by mapping and
preview. Re-exported by :mod:`invoicebridge.core.model`."""

from __future__ import annotations

from decimal import Decimal

from attrs import field, frozen

from . import money as m
from .converters import _opt_unit_price, _str, _tuple


@frozen
class CatalogItem:
    """A product or service the accounting system sells. ``account_code`` and ``tax_type`` are its defaults: what
    the backend applies to a line with this item that names no account or tax."""

    code: str = field(converter=_str)
    name: str = field(default="", converter=_str)
    description: str = field(default="", converter=_str)
    unit_price: Decimal | None = field(default=None, converter=_opt_unit_price)
    account_code: str = field(default="", converter=_str)
    tax_type: str = field(default="", converter=_str)


@frozen
class TaxRate:
    tax_type: str = field(converter=_str)
    name: str = field(converter=_str)
    rate: Decimal = field(converter=m.to_decimal)


@frozen
class Account:
    code: str = field(converter=_str)
    name: str = field(converter=_str)
    tax_type: str = field(default="", converter=_str)  # the default tax of a line on this account naming none


@frozen
class BrandingTheme:
    id: str = field(converter=_str)
    name: str = field(converter=_str)


@frozen
class Catalog:
    """The accounting organisation's lists, as the mapping and the preview need them."""

    base_currency: str = field(default="USD", converter=m.currency_code)
    currencies: tuple[str, ...] = field(default=(), converter=lambda v: tuple(m.currency_code(c) for c in v))
    items: tuple[CatalogItem, ...] = field(default=(), converter=_tuple)
    tax_rates: tuple[TaxRate, ...] = field(default=(), converter=_tuple)
    accounts: tuple[Account, ...] = field(default=(), converter=_tuple)
    branding_themes: tuple[BrandingTheme, ...] = field(default=(), converter=_tuple)
    organisation_name: str = field(default="", converter=_str)
    default_account_code: str = field(default="", converter=_str)  # the usual sales account, for lines without one

    def item(self, code: str) -> CatalogItem | None:
        return next((i for i in self.items if i.code.lower() == code.lower()), None) if code else None

    def tax_rate(self, tax_type: str) -> TaxRate | None:
        return next((t for t in self.tax_rates if t.tax_type == tax_type), None)

    def tax_type_for_percent(self, percent: Decimal) -> TaxRate | None:
        """The revenue tax rate with this percentage (the first one, as listed by the backend)."""
        return next((t for t in self.tax_rates if t.rate == percent), None)

    def account(self, code: str) -> Account | None:
        return next((a for a in self.accounts if a.code == code), None)

    def default_tax_type(self, item_code: str = "", account_code: str = "") -> str:
        """The tax the backend applies to a line that names none: the item's default, else the account's (the
        line's account, else the item's); "" when neither has one."""
        item = self.item(item_code) if item_code else None
        if item is not None and item.tax_type:
            return item.tax_type
        account = self.account(account_code or (item.account_code if item is not None else ""))
        return account.tax_type if account is not None else ""
