"""Deciding about a received mail: its kind (the rule table), who may act, which answers count.

Decides, never changes anything. Uses people/, outbound/ (the token format and calendar UIDs), inbound/ and below.
"""
