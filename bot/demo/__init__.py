"""The demo: a network's year on a simulated clock, with simulated members answering by mail.

May use the daemon, startup and every part below them, with loopback servers and a temporary database only.
"""
