"""The ground floor: the clock, structured logs and the test pause points.

Everything may use it; it uses no other part.
"""
