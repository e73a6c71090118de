"""Ringing Celery's doorbell after commit. Filled in by the sender work."""
