"""The Xero sandbox's in-memory organisation and its rules (fact sheet §3, §4, §6, §13).

Plain data plus the business rules: totals from the sandbox's own tax rates, validation messages, invoice
numbering, the status machine, payments. :mod:`.sandbox` puts HTTP around it; tests inspect it directly.
Nothing here imports the client side of the plugin.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable

from attrs import define, field

from .sandbox_records import (  # noqa: F401 (re-exported: the sandbox modules import them from here)
    CENT,
    M,
    NIL_ID,
    UNIT4,
    ZERO,
    Contact,
    Invoice,
    InvoiceProblem,
    Line,
    Payment,
    UnknownContact,
    money,
    new_id,
)


@define
class SandboxState:
    clock: Callable[[], dt.datetime]
    tenant_id: str = field(factory=new_id)
    organisation: dict[str, Any] = field(factory=dict)
    accounts: list[dict[str, Any]] = field(factory=list)
    tax_rates: list[dict[str, Any]] = field(factory=list)
    items: list[dict[str, Any]] = field(factory=list)
    currencies: list[dict[str, Any]] = field(factory=list)
    themes: list[dict[str, Any]] = field(factory=list)
    users: list[dict[str, Any]] = field(factory=list)
    contacts: dict[str, Contact] = field(factory=dict)
    invoices: dict[str, Invoice] = field(factory=dict)
    payments: dict[str, Payment] = field(factory=dict)
    emails: list[str] = field(factory=list)  # invoice ids emailed
    next_number: int = 1
    numbers_in_use: set[str] = field(factory=set, repr=False)  # kept with len(invoices) so numbering stays O(1)
    numbers_counted: int = field(default=-1, repr=False)
    allow_unapprove: bool = False  # AUTHORISED -> DRAFT/SUBMITTED: uncertain in Xero, refused by default
    events: list[dict[str, Any]] = field(factory=list)  # webhook events not yet delivered

    # ---- seeding -------------------------------------------------------------------------------------

    def seed(self, *, organisation: dict | None = None, accounts=(), tax_rates=(), items=(), currencies=(),
             themes=(), users=()) -> None:
        if organisation:
            self.organisation = {"OrganisationID": self.tenant_id, **organisation}
        self.accounts.extend(accounts)
        self.tax_rates.extend(tax_rates)
        self.items.extend(items)
        self.currencies.extend(currencies)
        self.themes.extend(themes)
        self.users.extend(users)

    def seed_demo(self) -> None:
        """A realistic UK organisation: GBP base, USD and EUR enabled, VAT 20 % / 5 % / 0 %."""
        def rate(name, tax_type, pct, revenue=True):
            return {"Name": name, "TaxType": tax_type, "Status": "ACTIVE", "ReportTaxType": "OUTPUT",
                    "CanApplyToRevenue": revenue, "CanApplyToExpenses": True, "DisplayTaxRate": Decimal(pct),
                    "EffectiveRate": Decimal(pct), "TaxComponents": [{"Name": "VAT", "Rate": Decimal(pct),
                                                                      "IsCompound": False, "IsNonRecoverable": False}]}

        def account(code, name, typ, cls, tax):
            return {"AccountID": new_id(), "Code": code, "Name": name, "Type": typ, "Class": cls,
                    "Status": "ACTIVE", "TaxType": tax, "EnablePaymentsToAccount": code == "970"}

        def item(code, name, desc, price, acct="200", tax="OUTPUT2"):
            return {"ItemID": new_id(), "Code": code, "Name": name, "Description": desc, "IsSold": True,
                    "IsPurchased": False, "SalesDetails": {"UnitPrice": Decimal(price), "AccountCode": acct,
                                                           "TaxType": tax}}

        self.seed(
            organisation={"Name": "Demo Company (UK)", "LegalName": "Demo Company (UK) Ltd", "BaseCurrency": "GBP",
                          "CountryCode": "GB", "ShortCode": "!dEm0k", "Timezone": "GMTSTANDARDTIME",
                          "Version": "UK", "OrganisationType": "COMPANY", "IsDemoCompany": True,
                          "OrganisationStatus": "ACTIVE", "PaysTax": True, "DefaultSalesTax": "Tax Exclusive",
                          "Edition": "BUSINESS", "Class": "STANDARD"},
            tax_rates=[rate("20% (VAT on Income)", "OUTPUT2", "20"), rate("5% (VAT on Income)", "RROUTPUT", "5"),
                       rate("Zero Rated Income", "ZERORATEDOUTPUT", "0"), rate("No VAT", "NONE", "0"),
                       rate("20% (VAT on Expenses)", "INPUT2", "20", revenue=False)],
            accounts=[account("200", "Sales", "REVENUE", "REVENUE", "OUTPUT2"),
                      account("260", "Other Revenue", "OTHERINCOME", "REVENUE", "OUTPUT2"),
                      account("270", "Interest Income", "OTHERINCOME", "REVENUE", "NONE"),
                      account("090", "Business Bank Account", "BANK", "ASSET", "NONE"),
                      account("970", "Owner A Funds Introduced", "EQUITY", "EQUITY", "NONE"),
                      account("400", "Advertising", "OVERHEADS", "EXPENSE", "INPUT2")],
            items=[item("CONSULT-H", "Consulting (hour)", "Consulting services, per hour", "120.00"),
                   item("CONSULT-D", "Consulting (day)", "Consulting services, per day", "850.00"),
                   item("LIC-STD", "Standard licence", "Standard licence, 12 months", "499.00"),
                   item("LIC-PRO", "Pro licence", "Pro licence, 12 months", "1299.00"),
                   item("TRAIN", "Training day", "On-site training, one day", "650.00", tax="RROUTPUT"),
                   item("BOOK", "Handbook", "Printed handbook", "35.00", tax="ZERORATEDOUTPUT"),
                   item("SUPPORT-M", "Support (monthly)", "Support plan, one month", "99.00"),
                   item("HW-KIT", "Hardware kit", "Hardware starter kit", "310.00", tax="ZERORATEDOUTPUT")],
            currencies=[{"Code": "GBP", "Description": "British Pound"},
                        {"Code": "USD", "Description": "United States Dollar"},
                        {"Code": "EUR", "Description": "Euro"}],
            themes=[{"BrandingThemeID": new_id(), "Name": "Standard", "Type": "INVOICE", "SortOrder": 0,
                     "CreatedDateUTC": self.clock()},
                    {"BrandingThemeID": new_id(), "Name": "Special Projects", "Type": "INVOICE", "SortOrder": 1,
                     "CreatedDateUTC": self.clock()}],
            users=[{"UserID": new_id(), "EmailAddress": "finance@demo.example", "FirstName": "Fiona",
                    "LastName": "Finance", "IsSubscriber": True, "OrganisationRole": "FINANCIALADVISER",
                    "UpdatedDateUTC": self.clock()},
                   {"UserID": new_id(), "EmailAddress": "sam@demo.example", "FirstName": "Sam", "LastName": "Sales",
                    "IsSubscriber": False, "OrganisationRole": "STANDARD", "UpdatedDateUTC": self.clock()},
                   {"UserID": new_id(), "EmailAddress": "ivy@demo.example", "FirstName": "Ivy",
                    "LastName": "Invoices", "IsSubscriber": False, "OrganisationRole": "INVOICEONLY",
                    "UpdatedDateUTC": self.clock()}],
        )

    # ---- lookups ---------------------------------------------------------------------------------------

    @property
    def base_currency(self) -> str:
        return self.organisation.get("BaseCurrency", "GBP")

    def account(self, code: str) -> dict[str, Any] | None:
        return next((a for a in self.accounts if a["Code"] == code and a.get("Status") == "ACTIVE"), None)

    def tax_rate(self, tax_type: str) -> dict[str, Any] | None:
        return next((t for t in self.tax_rates if t["TaxType"] == tax_type and t.get("Status") == "ACTIVE"), None)

    def item(self, code: str) -> dict[str, Any] | None:
        return next((i for i in self.items if i["Code"].lower() == code.lower()), None)

    def user(self, user_id: str) -> dict[str, Any] | None:
        return next((u for u in self.users if u["UserID"] == user_id), None)

    def touch(self, invoice: Invoice, change: str, details: str, *, event: str = "UPDATE") -> None:
        invoice.updated = self.clock()
        invoice.history.append({"Changes": change, "DateUTC": invoice.updated, "User": "System Generated",
                                "Details": details})
        self.queue_event("INVOICE", invoice.invoice_id, event)

    def queue_event(self, category: str, resource_id: str, event_type: str) -> None:
        self.events.append({"category": category, "resource_id": resource_id, "type": event_type,
                            "at": self.clock()})

    # ---- contacts --------------------------------------------------------------------------------------

    def find_contact(self, *, number: str = "", name: str = "") -> Contact | None:
        for c in self.contacts.values():
            if c.status != "ACTIVE":
                continue
            if number and c.contact_number == number:
                return c
            if name and c.name.lower() == name.lower():
                return c
        return None

    def create_contact(self, data: dict[str, Any]) -> Contact:
        name = str(data.get("Name") or "").strip()
        problems = []
        if not name:
            problems.append("Contact name must be specified")
        elif self.find_contact(name=name):
            problems.append(M["name_taken"].format(name=name))
        if len(name) > 255:
            problems.append("Contact name must be no more than 255 characters long.")
        number = str(data.get("ContactNumber") or "")
        if number and self.find_contact(number=number):
            problems.append(f"The contact number {number} is already assigned to another contact.")
        email = str(data.get("EmailAddress") or "")
        if email and ("@" not in email or " " in email):
            problems.append("Email address must be valid.")
        if problems:
            raise InvoiceProblem(*problems)
        contact = Contact(contact_id=new_id(), name=name, contact_number=number, email=email,
                          tax_number=str(data.get("TaxNumber") or ""), addresses=list(data.get("Addresses") or []),
                          updated=self.clock())
        self.contacts[contact.contact_id] = contact
        contact.history.append({"Changes": "Created", "DateUTC": contact.updated, "User": "System Generated",
                                "Details": f"Contact {name} created"})
        self.queue_event("CONTACT", contact.contact_id, "CREATE")
        return contact

    # ---- invoices --------------------------------------------------------------------------------------

    def _contact_for(self, data: dict[str, Any]) -> Contact:
        ref = data.get("Contact")
        if not isinstance(ref, dict) or not any(ref.get(k) for k in ("ContactID", "ContactNumber", "Name")):
            raise InvoiceProblem(M["no_contact"])
        if ref.get("ContactID"):
            contact = self.contacts.get(str(ref["ContactID"]).lower())
            if contact is None:
                raise UnknownContact(ref["ContactID"])
            if contact.status == "ARCHIVED" and len(ref) > 1:
                raise InvoiceProblem(M["archived"])
            return contact
        found = self.find_contact(number=str(ref.get("ContactNumber") or ""), name=str(ref.get("Name") or ""))
        return found or self.create_contact(ref)

    def _lines(self, raw_lines: Any, handling: str, problems: list[str], unit_dp: int = 4) -> list[Line]:
        """Lines with their amounts; unit amounts keep ``unit_dp`` decimals (2 unless the request sent
        ``unitdp=4``: spec parameters.unitdp, fact sheet §2 "Money")."""
        places = Decimal(1).scaleb(-unit_dp)
        lines = []
        for raw in raw_lines or []:
            item = self.item(raw["ItemCode"]) if raw.get("ItemCode") else None
            if raw.get("ItemCode") and item is None:
                problems.append(f"Item code '{raw['ItemCode']}' is not valid")
            sales = (item or {}).get("SalesDetails") or {}
            description = raw.get("Description") or (item or {}).get("Description") or ""
            if not description:
                problems.append("Description needs to be specified for each line item.")
            account_code = str(raw.get("AccountCode") or sales.get("AccountCode") or "")
            account = self.account(account_code) if account_code else None
            if account_code and account is None:
                problems.append(f"Account code '{account_code}' is not a valid code for this document.")
            tax_type = str(raw.get("TaxType") or sales.get("TaxType") or (account or {}).get("TaxType") or "")
            rate = self.tax_rate(tax_type) if tax_type else None
            if tax_type and (rate is None or not rate.get("CanApplyToRevenue")):
                problems.append(f"The TaxType code '{tax_type}' does not exist or cannot be used with this type of transaction.")
            if raw.get("DiscountRate") is not None and raw.get("DiscountAmount") is not None:
                problems.append("Only one of DiscountRate or DiscountAmount can be applied to a line item.")
            if len(raw.get("Tracking") or []) > 2:
                problems.append("A maximum of 2 tracking categories can be applied to a line item.")
            quantity = Decimal(str(raw.get("Quantity", 1))).quantize(UNIT4)
            unit = Decimal(str(raw.get("UnitAmount", sales.get("UnitPrice", 0)))).quantize(places, rounding=ROUND_HALF_UP)
            gross = quantity * unit
            rate_pct = Decimal(str((rate or {}).get("EffectiveRate", 0)))
            discount_rate = Decimal(str(raw["DiscountRate"])) if raw.get("DiscountRate") is not None else None
            discount_amount = money(raw["DiscountAmount"]) if raw.get("DiscountAmount") is not None else None
            if discount_rate is not None:
                amount = money(gross * (100 - discount_rate) / 100)
            elif discount_amount is not None:
                amount = money(gross - discount_amount)
            else:
                amount = money(gross)
            if handling == "NoTax" or not rate_pct:
                tax = ZERO
            elif handling == "Inclusive":
                tax = money(amount - amount * 100 / (100 + rate_pct))
            else:
                tax = money(amount * rate_pct / 100)
            lines.append(Line(line_item_id=new_id(), description=description, quantity=quantity, unit_amount=unit,
                              item_code=(item or {}).get("Code", ""), account_code=account_code, tax_type=tax_type,
                              tax_amount=tax, line_amount=amount, discount_rate=discount_rate,
                              discount_amount=discount_amount))
        return lines

    @staticmethod
    def _totals(lines: list[Line], handling: str) -> tuple[Decimal, Decimal, Decimal]:
        tax = sum((line.tax_amount for line in lines), ZERO)
        amounts = sum((line.line_amount for line in lines), ZERO)
        if handling == "Inclusive":
            return money(amounts - tax), money(tax), money(amounts)
        return money(amounts), money(tax), money(amounts + tax)

    def _approval_problems(self, lines: list[Line], date: Any, due: Any) -> list[str]:
        problems = []
        if not lines:
            problems.append("An approved invoice must have at least one line item.")
        if due is None:
            problems.append("Due Date is mandatory to approve an invoice.")
        if any(not line.account_code for line in lines):
            problems.append("Account code must be specified for each line item to approve an invoice.")
        return problems

    def create_invoice(self, data: dict[str, Any], *, app: str, parse_date: Callable[[Any], dt.date],
                       unit_dp: int = 4) -> Invoice:
        """Validate and store a new invoice, or raise InvoiceProblem / UnknownContact."""
        problems: list[str] = []
        kind = str(data.get("Type") or "")
        if not kind:
            problems.append(M["no_type"])
        try:
            contact = self._contact_for(data)
        except InvoiceProblem as exc:
            problems.extend(exc.messages)
            contact = None
        handling = str(data.get("LineAmountTypes") or "Exclusive")
        lines = self._lines(data.get("LineItems"), handling, problems, unit_dp)
        status = str(data.get("Status") or "DRAFT")
        if status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            problems.append(f"Invoices cannot be created with status {status}.")
        try:
            date = parse_date(data["Date"]) if data.get("Date") else self.clock().date()
            due = parse_date(data["DueDate"]) if data.get("DueDate") else None
        except ValueError as exc:
            problems.append(f"Invalid date: {exc}")
            date, due = self.clock().date(), None
        if status == "AUTHORISED":
            problems.extend(self._approval_problems(lines, date, due))
        number = str(data.get("InvoiceNumber") or "")
        if len(number) > 255:
            problems.append("Invoice Number must be no more than 255 characters long.")
        if number and kind == "ACCREC" and any(
            i.number == number and i.type == "ACCREC" and i.status != "DELETED" for i in self.invoices.values()
        ):
            problems.append(M["dup_number"])
        if len(str(data.get("Reference") or "")) > 255:
            problems.append("Reference must be no more than 255 characters long.")
        currency = str(data.get("CurrencyCode") or self.base_currency)
        if currency not in {c["Code"] for c in self.currencies} | {self.base_currency}:
            problems.append(f"The currency '{currency}' is not enabled for this organisation.")
        theme = str(data.get("BrandingThemeID") or "")
        if theme and theme not in {t["BrandingThemeID"] for t in self.themes}:
            problems.append("The branding theme does not exist.")
        if data.get("InvoiceID") and str(data["InvoiceID"]) in self.invoices:
            problems.append("An invoice with this InvoiceID already exists; use POST to update it.")
        if problems:
            raise InvoiceProblem(*problems)
        assert contact is not None
        if not number and kind == "ACCREC":
            number = self._next_number()
        sub, tax, total = self._totals(lines, handling)
        invoice = Invoice(invoice_id=new_id(), type=kind, number=number, contact_id=contact.contact_id, status=status,
                          lines=lines, date=date, due_date=due, line_amount_types=handling, currency=currency,
                          reference=str(data.get("Reference") or ""), url=str(data.get("Url") or ""),
                          branding_theme_id=theme, sub_total=sub, total_tax=tax, total=total, created_by_app=app)
        self.invoices[invoice.invoice_id] = invoice
        if kind == "ACCREC":
            contact.is_customer = True
        self.touch(invoice, "Created", f"INV {number} created as {status}", event="CREATE")
        return invoice

    def _next_number(self) -> str:
        """The next free INV-nnnn; the caller adds the invoice right after (numbers never change)."""
        if self.numbers_counted != len(self.invoices):  # invoices added some other way: count again
            self.numbers_in_use = {i.number for i in self.invoices.values()}
        while True:
            number = f"INV-{self.next_number:04d}"
            self.next_number += 1
            if number not in self.numbers_in_use:
                self.numbers_in_use.add(number)
                self.numbers_counted = len(self.invoices) + 1
                return number

    def update_invoice(self, invoice_id: str, data: dict[str, Any], *, parse_date: Callable[[Any], dt.date],
                       unit_dp: int = 4) -> Invoice:
        invoice = self.invoices[invoice_id]
        target = str(data.get("Status") or invoice.status)
        edits = {k for k in data if k not in ("InvoiceID", "Status", "Type", "Contact")}
        current = invoice.status
        if invoice.amount_paid > 0 or invoice.amount_credited > 0:
            if target == "VOIDED":
                raise InvoiceProblem(M["void_paid"])
            if edits or target != current:
                raise InvoiceProblem(M["edit_paid"])
        if current in ("VOIDED", "DELETED", "PAID") and (edits or target != current):
            raise InvoiceProblem(M["bad_status"])
        allowed = {
            "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
            "SUBMITTED": {"SUBMITTED", "DRAFT", "AUTHORISED", "DELETED"},
            "AUTHORISED": {"AUTHORISED", "VOIDED"} | ({"DRAFT", "SUBMITTED"} if self.allow_unapprove else set()),
        }.get(current, {current})
        if target not in allowed:
            raise InvoiceProblem(M["bad_status"])
        problems: list[str] = []
        lines = invoice.lines
        handling = str(data.get("LineAmountTypes") or invoice.line_amount_types)
        if "LineItems" in data:
            lines = self._lines(data["LineItems"], handling, problems, unit_dp)
        due = parse_date(data["DueDate"]) if data.get("DueDate") else invoice.due_date
        if target == "AUTHORISED" and current != "AUTHORISED":
            problems.extend(self._approval_problems(lines, invoice.date, due))
        if problems:
            raise InvoiceProblem(*problems)
        invoice.lines, invoice.line_amount_types, invoice.due_date = lines, handling, due
        for key, attr in (("Reference", "reference"), ("Url", "url")):
            if key in data:
                setattr(invoice, attr, str(data[key] or ""))
        if data.get("Date"):
            invoice.date = parse_date(data["Date"])
        invoice.sub_total, invoice.total_tax, invoice.total = self._totals(lines, handling)
        invoice.status = target
        change = {"AUTHORISED": "Approved", "VOIDED": "Voided", "DELETED": "Deleted",
                  "SUBMITTED": "Submitted"}.get(target, "Edited") if target != current else "Edited"
        self.touch(invoice, change, f"INV {invoice.number} {change.lower()}")
        return invoice

    def set_status(self, invoice_id: str, status: str) -> Invoice:
        """What a person does in Xero's UI (the console): the same rules as the API."""
        return self.update_invoice(invoice_id, {"Status": status}, parse_date=lambda v: v)

    # ---- payments --------------------------------------------------------------------------------------

    def payment_account(self, ref: Any) -> dict[str, Any]:
        """The account a payment goes to, named by ``AccountID`` or ``Code``: it must exist and accept payments
        (a BANK account, or one with ``EnablePaymentsToAccount``: spec schemas.Account). The messages are
        plausible, not first-party [?]."""
        ref = ref if isinstance(ref, dict) else {}
        wanted_id, code = str(ref.get("AccountID") or "").lower(), str(ref.get("Code") or "")
        if not wanted_id and not code:
            raise InvoiceProblem(M["no_account"])
        account = next((a for a in self.accounts if a.get("Status") == "ACTIVE" and (
            a["AccountID"].lower() == wanted_id if wanted_id else a["Code"] == code)), None)
        if account is None:
            raise InvoiceProblem(M["bad_account"].format(ref=ref.get("AccountID") or code))
        if account.get("Type") != "BANK" and not account.get("EnablePaymentsToAccount"):
            raise InvoiceProblem(M["no_payments_account"])
        return account

    def add_payment(self, invoice_id: str, amount: Any = None, *, date: dt.date | None = None,
                    account_code: str = "090") -> Payment:
        invoice = self.invoices[invoice_id]
        if invoice.status != "AUTHORISED":
            raise InvoiceProblem("Payments can only be made against Authorised documents")
        value = invoice.amount_due if amount in (None, "") else money(amount)
        if value <= 0:
            raise InvoiceProblem("Payment amount must be greater than zero")
        if value > invoice.amount_due:
            raise InvoiceProblem(M["overpay"])
        payment = Payment(payment_id=new_id(), invoice_id=invoice_id, amount=value,
                          date=date or self.clock().date(), account_code=account_code, updated=self.clock())
        self.payments[payment.payment_id] = payment
        payment.history.append({"Changes": "Created", "DateUTC": payment.updated, "User": "System Generated",
                                "Details": f"Payment of {value} {invoice.currency} on invoice {invoice.number}"})
        invoice.amount_paid = money(invoice.amount_paid + value)
        if invoice.amount_due == 0:
            invoice.status = "PAID"
            invoice.fully_paid_on = payment.date
        self.touch(invoice, "Paid" if invoice.status == "PAID" else "Payment",
                   f"Payment received of {value} {invoice.currency}")
        return payment

    def remove_payment(self, payment_id: str) -> Payment:
        payment = self.payments[payment_id]
        if payment.status == "DELETED":
            raise InvoiceProblem("This payment has already been deleted")
        invoice = self.invoices[payment.invoice_id]
        payment.status = "DELETED"
        payment.updated = self.clock()
        payment.history.append({"Changes": "Deleted", "DateUTC": payment.updated, "User": "System Generated",
                                "Details": f"Payment of {payment.amount} {invoice.currency} deleted"})
        invoice.amount_paid = money(invoice.amount_paid - payment.amount)
        if invoice.status == "PAID":
            invoice.status = "AUTHORISED"
            invoice.fully_paid_on = None
        self.touch(invoice, "Payment removed", f"Payment of {payment.amount} {invoice.currency} removed")
        return payment

    def live_payments(self, invoice_id: str) -> list[Payment]:
        return [p for p in self.payments.values() if p.invoice_id == invoice_id and p.status != "DELETED"]
