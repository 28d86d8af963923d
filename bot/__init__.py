"""kkrbot: runs a municipal network's mailing list and meeting cycle by e-mail.

The parts, top to bottom; each may import only the parts below it (`lint-imports`
checks the contract in pyproject.toml):

    __main__ · cli/ · daemon · worker | startup · actions/ · meetings/ · rules/
    · people/ · outbound/ | inbound/ · app · config/ | store/ · core/

(parts joined by `|` may not import each other).

One mail's path: inbound/ (receiver or imap_cursor → arrivals → parse) → rules/
(classify → authorize) → actions/ (pipeline → handlers) → outbound/ (compose →
outbox → send). Scheduler jobs (meeting cycle, outbox flush, polling) feed the same outbox.
"""
