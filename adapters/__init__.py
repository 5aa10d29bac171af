"""Adapters: the web app and the CLI."""
