"""parse() and classify() never raise, whatever arrives (hypothesis; `make proof` runs 5,000 cases)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from bot.config.settings import load_settings
from tests.support.config import make_config
from tests.support.fuzz import mails, read_all


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return load_settings(make_config(tmp_path_factory.mktemp("fuzz")), environ={})


@hypothesis_settings(max_examples=400, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                            HealthCheck.data_too_large])
@given(raw=mails())
def test_no_generated_mail_makes_parsing_or_classifying_raise(settings, raw):
    read_all(raw, settings)
