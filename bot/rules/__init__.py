"""Deciding about a received mail: its kind (the rule table), who may act, which answers count.

Decides, never changes anything. Uses meetings/, people/, outbound/ (the token format), inbound/ and below.
"""
