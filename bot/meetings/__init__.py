"""Meetings: dates from the config's series, letters about a meeting, syncing networks from config.

May use rules/ (who may act), people/ (role holders) and outbound/ (writing the letters), and the parts below.
"""
