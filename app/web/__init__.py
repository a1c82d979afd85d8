"""Rounds' serving shell: the ASGI app around Flet, its static assets, TLS for ward devices."""
