"""Settings: defaults < TOML file < environment < overrides; broker quirks only in profiles."""

from __future__ import annotations

import pytest

from streams.config import BROKER_PROFILES, load_settings
from streams.topics import bootstrap_of, topic_names


def test_layers_override_in_order(tmp_path):
    cfg = tmp_path / "w.toml"
    cfg.write_text('[callpulse]\nbroker_url = "kafka://file:9092"\npartitions = 8\nagent_emotion = true\n'
                   '[callpulse.thresholds]\nupset_share = 0.3\n')
    env = {"CALLPULSE_PARTITIONS": "12", "CALLPULSE_THRESHOLD_UPSET_THRESHOLD": "0.6"}
    s = load_settings(cfg, env=env, topic_prefix="t.")
    assert s.broker_url == "kafka://file:9092"
    assert s.partitions == 12 and s.agent_emotion is True and s.topic_prefix == "t."
    assert s.thresholds == {"upset_share": 0.3, "upset_threshold": 0.6}
    assert topic_names(s)["alerts"] == "t.alerts"


def test_agent_emotion_is_off_by_default():
    assert load_settings(None, env={}).agent_emotion is False


def test_unknown_keys_and_profiles_are_refused(tmp_path):
    cfg = tmp_path / "w.toml"
    cfg.write_text("brokr_url = 'x'\n")
    with pytest.raises(ValueError, match="brokr_url"):
        load_settings(cfg, env={})
    with pytest.raises(ValueError, match="unknown broker profile"):
        load_settings(None, env={"CALLPULSE_BROKER_PROFILE": "rabbit"})


def test_tansu_profile_carries_the_measured_quirks():
    p = BROKER_PROFILES["tansu"]
    assert p["producer_max_batch_size"] == 1
    assert p["processing_guarantee"] == "at_least_once"
    assert p["broker_session_timeout"] <= 6


def test_chain_thresholds_map_to_the_chain_config():
    from streams.agents.chain import chain_config

    c = chain_config({"upset_share": 0.4, "consecutive_windows": 2, "voice_weight": 0.6}, agent_emotion=False)
    assert c.escalation.upset_share == 0.4 and c.escalation.consecutive_windows == 2
    assert c.fusion.voice_weight == 0.6 and c.agent_emotion is False
    with pytest.raises(ValueError, match="unknown thresholds"):
        chain_config({"nonsense": 1.0})


def test_bootstrap_of_broker_urls():
    assert bootstrap_of("kafka://a:1;b:2") == "a:1,b:2"
    assert bootstrap_of("kafka://127.0.0.1:9092") == "127.0.0.1:9092"


def test_fetch_wait_comes_from_the_profile_unless_set():
    assert load_settings(None, env={"CALLPULSE_BROKER_PROFILE": "tansu"}).fetch_max_wait_ms == 50
    s = load_settings(None, env={"CALLPULSE_BROKER_PROFILE": "tansu", "CALLPULSE_FETCH_WAIT_MS": "120"})
    assert s.fetch_max_wait_ms == 120
    assert load_settings(None, env={}).fetch_max_wait_ms is None  # kafka profile: aiokafka's own
