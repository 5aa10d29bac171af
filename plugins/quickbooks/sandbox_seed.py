"""Seed data for the QBO sandbox: a UK company like the Xero sandbox's demo organisation (GBP, VAT 20 % / 5 % / 0 %,
the same products with their codes as SKUs), a vendor and an employee (so DisplayName clashes across the three
lists can be tried), terms, and a US variant with automated sales tax (``seed="us"``)."""

from __future__ import annotations

from decimal import Decimal

from .sandbox_state import QboState

ITEMS = (  # Sku, Name, Description, UnitPrice, tax code key
    ("CONSULT-H", "Consulting (hour)", "Consulting services, per hour", "120.00", "S"),
    ("CONSULT-D", "Consulting (day)", "Consulting services, per day", "850.00", "S"),
    ("LIC-STD", "Standard licence", "Standard licence, 12 months", "499.00", "S"),
    ("LIC-PRO", "Pro licence", "Pro licence, 12 months", "1299.00", "S"),
    ("TRAIN", "Training day", "On-site training, one day", "650.00", "R"),
    ("BOOK", "Handbook", "Printed handbook", "35.00", "Z"),
    ("SUPPORT-M", "Support (monthly)", "Support plan, one month", "99.00", "S"),
    ("HW-KIT", "Hardware kit", "Hardware starter kit", "310.00", "Z"),
)


def seed(state: QboState, kind: str = "demo") -> None:
    """``demo``: the UK company with multicurrency on (like the Xero demo organisation, it takes EUR and USD deals);
    ``uk``: the same company in GBP only (multicurrency is off by default in QBO, fact sheet §9); ``us``: the US
    company (USD only)."""
    us = kind == "us"
    currency = "USD" if us else "GBP"
    address = ({"Line1": "2600 Marine Way", "City": "Mountain View", "CountrySubDivisionCode": "CA",
                "PostalCode": "94043", "Country": "USA"} if us else
               {"Line1": "1 Sandbox Street", "City": "London", "PostalCode": "EC1A 1AA", "Country": "GBR"})
    name = "Sandbox Company_US_1" if us else "Demo Company (UK)"
    state.company = {"CompanyName": name, "LegalName": f"{name} Ltd", "CompanyAddr": address, "LegalAddr": address,
                     "Country": "US" if us else "GB", "DefaultTimeZone": "America/Los_Angeles" if us else "Europe/London",
                     "FiscalYearStartMonth": "January", "SupportedLanguages": "en",
                     "Email": {"Address": "finance@demo.example"}, "NameValue": [
                         {"Name": "NeoEnabled", "Value": "true"}, {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}]}
    state.ast_rate = Decimal("8.25") if us else Decimal(0)
    state.preferences = {
        "AccountingInfoPrefs": {"UseAccountNumbers": True},
        "SalesFormsPrefs": {"CustomTxnNumbers": False, "AllowDiscount": True, "AllowDeposit": False,
                            "AllowShipping": False, "ETransactionPaymentEnabled": True, "AutoApplyPayments": True},
        "CurrencyPrefs": {"MultiCurrencyEnabled": kind == "demo", "HomeCurrency": {"value": currency}},
        "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": us},
    }
    income = state.insert("Account", {"Name": "Sales", "AcctNum": "200", "AccountType": "Income",
                                      "AccountSubType": "SalesOfProductIncome", "Classification": "Revenue",
                                      "Active": True, "CurrencyRef": state.home_currency_ref()})
    state.insert("Account", {"Name": "Other Revenue", "AcctNum": "260", "AccountType": "Other Income",
                             "AccountSubType": "OtherMiscellaneousIncome", "Classification": "Revenue", "Active": True})
    state.insert("Account", {"Name": "Undeposited Funds", "AccountType": "Other Current Asset",
                             "AccountSubType": "UndepositedFunds", "Classification": "Asset", "Active": True})
    codes: dict[str, str] = {}
    if not us:
        for key, label, pct in (("S", "20.0% S", "20"), ("R", "5.0% R", "5"), ("Z", "0.0% Z", "0")):
            rate = state.insert("TaxRate", {"Name": f"{label} (sales)", "Description": f"VAT {pct}%",
                                            "RateValue": Decimal(pct), "AgencyRef": {"value": "1"},
                                            "SpecialTaxType": "NONE", "DisplayType": "ReadOnly", "Active": True})
            code = state.insert("TaxCode", {"Name": label, "Description": f"VAT {pct}% on sales",
                                            "Active": True, "Taxable": True, "TaxGroup": False, "SalesTaxRateList": {
                                                "TaxRateDetail": [{"TaxRateRef": {"value": rate["Id"], "name": rate["Name"]},
                                                                   "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}]},
                                            "PurchaseTaxRateList": {}})
            codes[key] = code["Id"]
        codes["E"] = state.insert("TaxCode", {"Name": "Exempt", "Description": "Exempt from VAT", "Active": True,
                                              "Taxable": False, "TaxGroup": False, "SalesTaxRateList": {},
                                              "PurchaseTaxRateList": {}})["Id"]
    terms = [state.insert("Term", {"Name": n, "DueDays": d, "Type": "STANDARD", "Active": True})
             for n, d in (("Due on receipt", 0), ("Net 15", 15), ("Net 30", 30))]
    for sku, item_name, desc, price, tax in ITEMS:
        row = {"Name": item_name, "Sku": sku, "Description": desc, "UnitPrice": Decimal(price), "Type": "Service",
               "Active": True, "Taxable": True, "IncomeAccountRef": {"value": income["Id"], "name": income["Name"]}}
        if not us:
            row["SalesTaxCodeRef"] = {"value": codes[tax]}
        state.insert("Item", row)
    state.insert("Vendor", {"DisplayName": "Office Supplies Co", "CompanyName": "Office Supplies Co", "Active": True})
    state.insert("Employee", {"DisplayName": "Emily Employee", "GivenName": "Emily", "FamilyName": "Employee",
                              "Active": True})
    state.preferences["SalesFormsPrefs"]["DefaultTerms"] = {"value": terms[2]["Id"]}
    state.changes.clear()  # seeding is not a change anyone is told about
