"""kkrbot: runs a municipal network's mailing list and meeting cycle by e-mail.

The message pipeline, one module per step:

    receiver / imap_cursor → inbound_store → parse → classify → authorize
      → handlers → compose → outbox → send

Scheduler jobs (meeting cycle, outbox flush, polling) feed the same outbox.
"""
