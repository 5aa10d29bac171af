"""core.i18n: language negotiation, Babel formatting and strict locale parsing, lazy texts, the German labels."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicebridge.core import i18n
from invoicebridge.core.i18n import (LazyText, UnreadableNumber, entry_text, format_date, format_datetime, format_input_number,
                                     format_money, format_number, lazy_, lazy_money, negotiate, parse_decimal, use_locale)
from invoicebridge.core.status import Command, InvoiceStatus, display_label


@pytest.mark.parametrize("header, expected", [
    ("de-DE,de;q=0.9,en;q=0.8", "de"), ("en-GB,en;q=0.9,de;q=0.8", "en"), ("fr-FR,de;q=0.5", "de"),
    ("de;q=0.2,en;q=0.7", "en"), ("fr,it", "en"), ("", "en"), ("de_AT", "de"), ("de;q=0, en", "en"), ("*", "en"),
    ("de;q=abc", "en"),
])
def test_accept_language_picks_the_best_language_we_speak(header, expected):
    assert negotiate(header) == expected


def test_negotiate_falls_back_to_the_given_default():
    assert negotiate("fr-FR", default="de") == "de" and negotiate(None, default="de") == "de"


def test_money_numbers_and_dates_follow_the_locale():
    with use_locale("de"):
        assert format_money(Decimal("5400.60"), "GBP") == "5.400,60\xa0£"
        assert format_money(Decimal("1234.5"), "EUR") == "1.234,50\xa0€"
        assert format_number(Decimal("1234.5")) == "1.234,5"
        assert format_number(Decimal("7"), places=2) == "7,00"
        assert format_date(dt.date(2026, 3, 13)) == "13.03.2026"
        assert format_date("2026-03-13") == "13.03.2026"
        assert format_datetime("2026-11-28T06:43:09.123456+00:00") == "28.11.2026, 06:43:09"
    with use_locale("en"):
        assert format_money(Decimal("5400.60"), "GBP") == "£5,400.60"
        assert format_number(Decimal("1234.5")) == "1,234.5"
        assert format_date(dt.date(2026, 3, 13)) == "Mar 13, 2026"
    assert format_money(None, "EUR") == "" and format_date(None) == "" and format_date("not a date") == "not a date"


def test_parse_decimal_reads_the_locale_and_refuses_what_it_cannot_read_naming_the_field():
    with use_locale("de"):
        assert parse_decimal("1,5", field="Menge") == Decimal("1.5")
        assert parse_decimal("1.234,5", field="Menge") == Decimal("1234.5")
        assert parse_decimal(" ", field="Menge") is None
        with pytest.raises(UnreadableNumber) as refused:
            parse_decimal("1.5", field="Menge")  # a German reader writes 1,5; 1.5 is not guessed at
        assert "Menge" in str(refused.value) and "1.234,50" in str(refused.value)
    with use_locale("en"):
        assert parse_decimal("1.5", field="Quantity") == Decimal("1.5")
        assert parse_decimal("1,234.5", field="Quantity") == Decimal("1234.5")
        for bad in ("1,5", "abc", "1e5", "NaN", "Infinity", "1..2"):
            with pytest.raises(UnreadableNumber) as refused:
                parse_decimal(bad, field="Quantity")
            assert refused.value.field == "Quantity" and "Quantity" in str(refused.value)
        with pytest.raises(UnreadableNumber):
            parse_decimal(True, field="Quantity")


DECIMALS = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False, places=6)


@settings(max_examples=200, deadline=None)
@given(number=DECIMALS, language=st.sampled_from(["de", "en"]))
def test_a_formatted_number_reads_back_as_the_same_decimal(number, language):
    with use_locale(language):
        assert parse_decimal(format_number(number), field="x") == number
        assert parse_decimal(format_input_number(number), field="x") == number


@settings(max_examples=100, deadline=None)
@given(number=DECIMALS, places=st.integers(min_value=0, max_value=4), language=st.sampled_from(["de", "en"]))
def test_a_number_formatted_to_places_reads_back_as_that_rounded_decimal(number, places, language):
    with use_locale(language):
        shown = format_number(number, places=places)
        assert parse_decimal(shown, field="x") == number.quantize(Decimal(1).scaleb(-places), rounding="ROUND_HALF_EVEN")


def test_status_labels_in_german_are_the_help_articles():
    with use_locale("de"):
        assert [s.label for s in InvoiceStatus] == ["Entwurf", "Warten auf Bestätigung", "Warten auf Zahlung", "Bezahlt",
                                                    "Storniert", "Gelöscht"]
        assert display_label(InvoiceStatus.AWAITING_PAYMENT, amount_paid=Decimal("1")) == "Teilweise bezahlt"
        assert Command.VOID.label == "Stornieren"
    with use_locale("en"):
        assert [s.label for s in InvoiceStatus] == ["Draft", "Awaiting approval", "Awaiting payment", "Paid", "Voided", "Deleted"]
        assert display_label(InvoiceStatus.AWAITING_PAYMENT, amount_paid=Decimal("1")) == "Partly paid"


def test_a_lazy_text_is_rendered_in_the_language_of_the_moment_and_survives_the_store():
    text = lazy_("Paid %(paid)s of %(total)s", paid=lazy_money(Decimal("12.5"), "EUR"), total=lazy_money(Decimal("1000"), "EUR"))
    stored = json.loads(json.dumps(text.to_json()))
    assert text.english() == "Paid €12.50 of €1,000.00"
    with use_locale("de"):
        assert str(LazyText.from_json(stored)) == "12,50\xa0€ von 1.000,00\xa0€ bezahlt"
        assert entry_text({"message": "Paid €12.50 of €1,000.00", "data": {"i18n": stored}}) == "12,50\xa0€ von 1.000,00\xa0€ bezahlt"
        assert entry_text({"message": "an old entry", "data": {}}) == "an old entry"
        label = lazy_("%(previous)s → %(current)s (%(source)s)", previous=i18n.lazy_("Draft"), current=lazy_("Paid"), source="x")
        assert str(LazyText.from_json(json.loads(json.dumps(label.to_json())))) == "Entwurf → Bezahlt (über x)"


def test_an_audit_entry_keeps_english_and_shows_in_the_readers_language(store):
    store.audit("payment", lazy_("Paid %(paid)s of %(total)s", paid=lazy_money(Decimal("5"), "GBP"), total=lazy_money(Decimal("10"), "GBP")))
    [entry] = store.audit_entries()
    assert entry["message"] == "Paid £5.00 of £10.00"  # the API's and the CLI's text stays English
    with use_locale("de"):
        assert entry_text(entry) == "5,00\xa0£ von 10,00\xa0£ bezahlt"


def test_errors_are_raised_in_the_current_language():
    from invoicebridge.core.errors import IllegalTransition
    from invoicebridge.core.status import apply_command

    with use_locale("de"), pytest.raises(IllegalTransition) as refused:
        apply_command(InvoiceStatus.PAID, Command.DELETE, invoice="INV-1")
    assert refused.value.command == "delete" and refused.value.status == InvoiceStatus.PAID  # machine fields unchanged
    assert refused.value.message.startswith("Löschen von INV-1 ist nicht möglich: Status „Bezahlt“")
