"""Sending mail: composing from templates, reply tokens, calendar parts, the outbox, the sender.

Knows how to write and deliver a mail, not why it is sent. Uses app, config/, store/ and core/.
"""
