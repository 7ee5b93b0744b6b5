"""A test-only app for the reliability scenarios: handlers that leave a visible side effect.

Loaded only by tests.reliability.settings (the settings the scenarios' gunicorn and
qcluster run with), never by the product's settings.
"""
