"""Tests of bot/inbound/."""
