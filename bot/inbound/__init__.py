"""Receiving mail: the SMTP receiver and the IMAP cursor, storing a mail raw, parsing it.

Stores and reads, never decides or sends. Uses app, config/, store/ and core/.
"""
