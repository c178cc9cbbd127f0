"""Settings layering as an operator meets it: switches, values, variables, precedence."""

from __future__ import annotations

import argparse

import pytest

from decision.service.settings import DecisionSettings
from plumbing.settings import SettingsError, add_arguments, resolve


def settings(*argv: str, env: dict[str, str] | None = None) -> DecisionSettings:
    parser = argparse.ArgumentParser()
    add_arguments(parser, DecisionSettings, "DECISION")
    return resolve(DecisionSettings, parser.parse_args(argv), env or {}, "DECISION")


def test_boolean_settings_work_as_switches():
    assert settings("--log-full-numbers").log_full_numbers is True
    assert settings("--no-access-log").access_log is False
    assert settings().log_full_numbers is False
    assert settings().access_log is True


def test_boolean_settings_still_take_a_value():
    assert settings("--log-full-numbers", "true").log_full_numbers is True
    assert settings("--access-log", "off").access_log is False


def test_a_switch_beats_the_variable():
    assert settings("--no-access-log", env={"DECISION_ACCESS_LOG": "true"}).access_log is False
    assert settings(env={"DECISION_ACCESS_LOG": "no"}).access_log is False


def test_a_switch_given_a_non_boolean_names_the_flag():
    with pytest.raises(SettingsError, match="--access-log: expected bool, got 'maybe'"):
        settings("--access-log", "maybe")
