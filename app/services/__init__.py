"""The ward's operations. Screens and the CLI call these; they never touch Flet.

Every call takes the acting staff member, checks their role and ward (deny by default),
writes its audit row in the same transaction, and returns plain read models.
"""
