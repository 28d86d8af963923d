"""Helpers shared by the tests: config folders, free ports, subprocesses of the real bot."""
