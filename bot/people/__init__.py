"""People: contacts and their aliases, the CSV import and export, and who gets which mail.

Uses outbound/ (for the Recipient type) and the parts below it.
"""
