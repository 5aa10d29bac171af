"""The Pipedrive plugin."""
