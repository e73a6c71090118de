"""Test helpers shared by every app's tests: a real SMTP sink on loopback, free ports."""
