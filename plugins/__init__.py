"""Backend plugins shipped with invoicebridge."""
