"""Tests of bot/people/."""
