"""Tests of bot/actions/."""
