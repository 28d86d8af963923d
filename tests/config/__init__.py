"""Tests of bot/config/."""
