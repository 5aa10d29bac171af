"""invoicebridge: CRM deals to accounting invoices, with the invoice status kept on the deal."""

__version__ = "0.1.0"
