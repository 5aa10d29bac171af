"""The Xero plugin."""
