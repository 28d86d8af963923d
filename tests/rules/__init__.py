"""Tests of bot/rules/."""
