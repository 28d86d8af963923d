"""Tests of bot/meetings/."""
