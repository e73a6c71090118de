"""Inbound gateway models (filled by the gateway issue)."""
