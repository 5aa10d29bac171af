"""Demo data for the Pipedrive sandbox: organizations in the UK, Germany, the USA and Ireland; persons with
several emails; deals in GBP, EUR and USD with products whose codes match the Xero sandbox's items
(CONSULT-H, LIC-PRO, TRAIN, SUPPORT-M, HW-KIT); line and deal-level discounts; 20 %, 5 % and 0 % tax;
inclusive, exclusive and no-tax methods; open and won deals; a custom "VAT number" organization field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .sandbox_state import SandboxState


def _addr(value: str, street_number: str, route: str, locality: str, postal_code: str, country: str,
          region: str = "") -> dict:
    return {"value": value, "street_number": street_number, "route": route, "locality": locality,
            "postal_code": postal_code, "country": country, "admin_area_level_1": region or None,
            "admin_area_level_2": None, "sublocality": None, "subpremise": None}


def seed_demo(s: SandboxState) -> dict[str, Any]:
    vat = s.add_custom_field("organization", "VAT number", "varchar")
    tier = s.add_custom_field("organization", "Customer tier", "enum", ["Gold", "Silver", "Bronze"])
    po = s.add_custom_field("deal", "PO number", "varchar")
    channels = s.add_custom_field("deal", "Sales channels", "set", ["Web", "Partner", "Event"])
    budget = s.add_custom_field("deal", "Approved budget", "monetary")
    billing = s.add_custom_field("person", "Billing contact", "enum", ["Yes", "No"])
    s.add_custom_field("deal", "Invoice number", "varchar")  # for the deal-field write-back (Settings)
    s.add_custom_field("deal", "Invoice status", "varchar")

    acme = s.add_organization("Acme Ltd", _addr("1 King Street, London EC2V 8AU, United Kingdom", "1",
                                                 "King Street", "London", "EC2V 8AU", "United Kingdom", "England"),
                              {vat: "GB123456789", tier: s.option_id("organization", tier, "Gold")})
    nord = s.add_organization("Nordlicht GmbH", _addr("Friedrichstraße 68, 10117 Berlin, Germany", "68",
                                                       "Friedrichstraße", "Berlin", "10117", "Germany", "Berlin"),
                              {vat: "DE811907980", tier: s.option_id("organization", tier, "Silver")})
    globex = s.add_organization("Globex Corporation", _addr("350 Fifth Avenue, New York, NY 10118, USA", "350",
                                                             "Fifth Avenue", "New York", "10118", "USA", "NY"))
    emerald = s.add_organization("Emerald Analytics Ltd", _addr("12 Harcourt Street, Dublin D02 XY89, Ireland",
                                                                 "12", "Harcourt Street", "Dublin", "D02 XY89",
                                                                 "Ireland"), {vat: "IE6388047V"})

    jane = s.add_person("Jane Doe", ["jane.doe@personal.example", "accounts@acme.example"], acme,
                        ["+44 20 7946 0000"], {billing: s.option_id("person", billing, "Yes")}, primary=1)
    jurgen = s.add_person("Jürgen Müller", ["j.mueller@nordlicht.example", "buchhaltung@nordlicht.example"], nord,
                          ["+49 30 1234567"])
    hank = s.add_person("Hank Scorpio", ["hank@globex.example"], globex)
    aoife = s.add_person("Aoife Ní Bhriain", ["aoife@emerald.example", "finance@emerald.example"], emerald)

    p = {code: s.add_product(name, code, price, cur, tax) for code, name, price, cur, tax in (
        ("CONSULT-H", "Consulting (hourly)", "150", "GBP", "20"),
        ("LIC-PRO", "Annual licence", "1200", "GBP", "20"),
        ("SUPPORT-M", "Support (monthly)", "99", "GBP", "20"),
        ("TRAIN", "Training day", "850", "EUR", "5"),
        ("HW-KIT", "Hardware kit", "310", "USD", "0"),
    )}
    won_at = s.now() - dt.timedelta(days=2)

    d1 = s.add_deal("Acme – annual licence and onboarding", "GBP", org_id=acme, person_id=jane, status="won",
                    won_time=won_at, custom={po: "PO-7781", channels: [s.option_id("deal", channels, "Web"),
                                                                        s.option_id("deal", channels, "Partner")],
                                             budget: {"value": 5000, "currency": "GBP"}})
    s.attach_product(d1, p["LIC-PRO"], 2, 1200, tax=20, tax_method="exclusive")
    s.attach_product(d1, p["CONSULT-H"], "7.5", 150, discount=10, tax=20)
    s.attach_product(d1, p["SUPPORT-M"], 12, 99, discount=100, discount_type="amount", tax=20)

    d2 = s.add_deal("Nordlicht – training programme", "EUR", org_id=nord, person_id=jurgen, status="won",
                    won_time=won_at)
    s.attach_product(d2, p["TRAIN"], 3, 850, tax=5, tax_method="inclusive")
    s.attach_product(d2, p["CONSULT-H"], 4, 140, tax=5, name="Remote consulting (EUR)")
    s.add_discount(d2, 5, "percentage", "Partner discount")

    d3 = s.add_deal("Globex – hardware rollout", "USD", org_id=globex, person_id=hank)
    s.attach_product(d3, p["HW-KIT"], 25, 310, discount=500, discount_type="amount", tax=0, tax_method="none")
    s.attach_product(d3, p["SUPPORT-M"], 1, 99, tax=0, is_enabled=False)

    d4 = s.add_deal("Acme – support renewal", "GBP", org_id=acme, person_id=jane)
    s.attach_product(d4, p["SUPPORT-M"], 12, 99, tax=20, tax_method="exclusive")
    s.add_discount(d4, 50, "amount", "Loyalty credit")

    d5 = s.add_deal("Emerald – analytics workshop", "EUR", org_id=emerald, person_id=aoife, status="won",
                    won_time=won_at - dt.timedelta(days=10))
    s.attach_product(d5, p["TRAIN"], 1, 850, tax=0, tax_method="exclusive")

    d6 = s.add_deal("Walk-in customer (no organization)", "GBP", person_id=hank, value=400)
    d7 = s.add_deal("Unassigned enquiry", "EUR", value=0)
    return {"fields": {"vat": vat, "tier": tier, "po": po, "channels": channels, "budget": budget,
                       "billing": billing},
            "organizations": [acme, nord, globex, emerald], "persons": [jane, jurgen, hank, aoife],
            "products": p, "deals": [d1, d2, d3, d4, d5, d6, d7]}
