"""Rounds: ward rounds, check-ins and patient timelines for behavioral health technicians."""
