"""Rounds' Flet screens."""
