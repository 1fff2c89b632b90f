"""Sparkplug B names: topics parsed and formatted, and the rules that turn metrics into
sensor paths."""

from __future__ import annotations

import pytest

from shopfloor.connectors.base import Unreadable
from shopfloor.connectors.config import SparkplugSettings
from shopfloor.connectors.sparkplug import (
    PathRefused,
    PathRule,
    SparkplugTopic,
    format_topic,
    parse_topic,
    subscription,
)

NOW_US = 1_700_000_100_000_000
T0_MS = 1_700_000_000_000


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("spBv1.0/Plant1/NBIRTH/edge-a", SparkplugTopic("Plant1", "NBIRTH", "edge-a")),
        ("spBv1.0/Plant1/NDATA/edge-a", SparkplugTopic("Plant1", "NDATA", "edge-a")),
        ("spBv1.0/g/DDATA/edge-a/press 3", SparkplugTopic("g", "DDATA", "edge-a", "press 3")),
        ("spBv1.0/g/DBIRTH/n/d", SparkplugTopic("g", "DBIRTH", "n", "d")),
        ("spBv1.0/g/DDEATH/n/d", SparkplugTopic("g", "DDEATH", "n", "d")),
        ("spBv1.0/g/NDEATH/n", SparkplugTopic("g", "NDEATH", "n")),
        ("spBv1.0/g/NCMD/n", SparkplugTopic("g", "NCMD", "n")),
        ("spBv1.0/g/DCMD/n/d", SparkplugTopic("g", "DCMD", "n", "d")),
        ("spBv1.0/STATE/scada-1", SparkplugTopic("", "STATE", "scada-1")),
        ("spBv1.0/g/STATE/scada-1", SparkplugTopic("g", "STATE", "scada-1")),
    ],
)
def test_topics_are_parsed_and_formatted_back(topic, parsed):
    assert parse_topic(topic) == parsed
    assert str(parsed) == topic


@pytest.mark.parametrize(
    ("topic", "says"),
    [
        ("spAv1.0/g/NDATA/n", "does not start with spBv1.0/"),
        ("shopfloor/v1/acme", "does not start with spBv1.0/"),
        ("spBv1.0/g/NDATA", "has 3 levels"),
        ("spBv1.0/g/DDATA/n/d/extra", "has 6 levels"),
        ("spBv1.0/g/NSTUFF/n", "unknown message type 'NSTUFF'"),
        ("spBv1.0/g/NDATA/n/d", "a NDATA topic has no device level"),
        ("spBv1.0/g/DDATA/n", "a DDATA topic needs a device level"),
        ("spBv1.0//NDATA/n", "empty level"),
        ("spBv1.0/g/NDATA/+", "wildcard"),
    ],
)
def test_other_topics_are_unreadable(topic, says):
    with pytest.raises(Unreadable, match="not a Sparkplug B topic") as caught:
        parse_topic(topic)
    assert says in str(caught.value)


def test_topic_helpers():
    assert format_topic("g", "DDATA", "n", "d") == "spBv1.0/g/DDATA/n/d"
    assert subscription() == "spBv1.0/+/#"
    assert subscription("Plant1") == "spBv1.0/Plant1/#"


# -- the path rule ------------------------------------------------------------------------

DEFAULT_RULE = SparkplugSettings().path


@pytest.mark.parametrize(
    ("template", "device", "metric", "path"),
    [
        (DEFAULT_RULE, "Press 3", "Motor/Speed", "plant1/edge-a/press-3/motor/speed"),
        (DEFAULT_RULE, "", "Motor/Speed", "plant1/edge-a/motor/speed"),
        (DEFAULT_RULE, "", "Oil Temp (°C)", "plant1/edge-a/oil-temp-c"),
        (DEFAULT_RULE, "", "--A__b--", "plant1/edge-a/a__b"),
        (DEFAULT_RULE, "", "a//b/", "plant1/edge-a/a/b"),
        ("acme/{node}/{metric}", "Press 3", "Speed", "acme/edge-a/speed"),
        ("acme/line-1/{device}/{metric}", "Press 3", "Oil/Temp", "acme/line-1/press-3/oil/temp"),
        ("{group}-{node}/{metric}", "", "x", "plant1-edge-a/x"),
        ("site/{metric}", "", "{node}", "site/node"),  # a name is not substituted again
    ],
)
def test_path_rules(template, device, metric, path):
    assert PathRule(template).path("Plant1", "Edge.A", device, metric) == path


def test_path_rules_refuse_paths_that_are_not_paths():
    rule = PathRule("{group}/{node}/{device}/{metric}")
    with pytest.raises(PathRefused, match="at most 8 are allowed") as caught:
        rule.path("g", "n", "d", "a/b/c/d/e/f")
    assert "metric 'a/b/c/d/e/f' of g/n/d" in str(caught.value)
    with pytest.raises(PathRefused, match="'温度' has no letter, digit"):
        rule.path("g", "n", "", "温度")
    with pytest.raises(PathRefused, match="at most 255"):
        rule.path("g", "n", "", "x" * 300)
    # Refusals are remembered like paths and raised again.
    with pytest.raises(PathRefused):
        rule.path("g", "n", "", "温度")
