"""Errors for people: the plain message and the folded technical details."""

from invoicebridge.adapters.display import says_reconnect, split_error


def test_a_request_note_goes_to_the_details():
    p = split_error("Pipedrive rejected the credentials; reconnect Pipedrive (GET https://acme.pipedrive.com/api/v1/users/me → 401)")
    assert p.plain == "Pipedrive rejected the credentials; reconnect Pipedrive"
    assert p.details == "(GET https://acme.pipedrive.com/api/v1/users/me → 401)"


def test_a_bare_address_is_replaced_and_kept_in_the_details():
    p = split_error("Could not reach https://api.xero.com/api.xro/2.0/Invoices; try again")
    assert "http" not in p.plain and p.plain.endswith("; try again")
    assert p.details == "https://api.xero.com/api.xro/2.0/Invoices"


def test_a_plain_message_stays_as_it_is():
    p = split_error("Deal 6: has no organization; link one in the CRM")
    assert (p.plain, p.details) == ("Deal 6: has no organization; link one in the CRM", "")
    assert split_error("").plain  # never an empty error


def test_reconnect_is_recognised():
    assert says_reconnect("The token was revoked: reconnect Xero")
    assert says_reconnect("Xero authorised no organisation; connect again and tick an organisation")
    assert not says_reconnect("Xero is unavailable right now")
