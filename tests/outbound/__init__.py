"""Tests of bot/outbound/."""
