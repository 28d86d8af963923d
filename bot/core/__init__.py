"""The ground floor: the clock, structured logs and the test pause points.

Everything may use it; it imports nothing from bot.
"""
