"""Meetings: dates from the config's series, letters about a meeting, syncing networks from config.

Uses people/ and outbound/ to address and write the letters, and the parts below them.
"""
