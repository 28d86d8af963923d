"""Real servers (Dovecot IMAP, ...) started in temp dirs for integration tests."""
