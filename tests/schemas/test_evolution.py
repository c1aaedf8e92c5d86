"""Schema evolution: events written under an older version stay readable by the latest reader."""

from __future__ import annotations

import pytest
from fastavro.utils import generate_many

from processors.types import CallInfo, FusedTurn
from schemas import codec
from streams.records import from_record, record_to_call_info

OLDER = [(name, v) for name in codec.SCHEMA_NAMES for v in codec.schema_versions(name)[:-1]]


def test_there_are_older_versions_to_check():
    assert ("call_event", 1) in OLDER and ("fused_turn", 1) in OLDER


@pytest.mark.parametrize("name, version", OLDER)
def test_old_writer_new_reader(name, version):
    """Random events of the old version decode under the latest: shared fields are kept, fields
    added since take their defaults."""
    old, new = codec.schema_json(name, version), codec.schema_json(name)
    old_fields = {f["name"] for f in old["fields"]}
    defaults = {f["name"]: f["default"] for f in new["fields"] if f["name"] not in old_fields}
    for rec in generate_many(old, 50):
        data = codec.encode(name, rec, version=version)
        assert codec.peek(data) == (name, version)
        back = codec.decode(name, data)
        assert set(back) == {f["name"] for f in new["fields"]}
        for key, value in defaults.items():
            assert back[key] == value
        # Shared fields carry the writer's values (re-encoding under the old schema is byte-exact).
        assert codec.encode(name, {k: back[k] for k in old_fields}, version=version) == data


@pytest.mark.parametrize("name, version", OLDER)
def test_evolution_rules_hold(name, version):
    """The rules of schemas/EVOLUTION.md, checked mechanically: fields are only added (with a
    default), never removed, renamed or retyped; names, namespace and schema id are stable."""
    old, new = codec.schema_json(name, version), codec.schema_json(name)
    assert (old["name"], old["namespace"], old["callpulse_schema_id"]) == (new["name"], new["namespace"], new["callpulse_schema_id"])
    new_fields = {f["name"]: f for f in new["fields"]}
    for f in old["fields"]:
        assert f["name"] in new_fields, f"field {f['name']} removed from {name}"
        assert new_fields[f["name"]]["type"] == f["type"], f"field {f['name']} of {name} changed type"
    old_names = {f["name"] for f in old["fields"]}
    for f in new["fields"]:
        if f["name"] not in old_names:
            assert "default" in f, f"field {f['name']} added to {name} without a default"


def test_v1_call_started_becomes_a_call_info_with_defaults():
    v1 = {"call_id": "c9", "kind": "started", "ts_ms": 5, "stereo": False, "agent_channel": 0,
          "agent_id": "a1", "queue": "sales"}
    info = record_to_call_info(codec.decode("call_event", codec.encode("call_event", v1, version=1)))
    assert info == CallInfo(call_id="c9", stereo=False, agent_channel=0, agent_id="a1", queue="sales",
                            language="en", agent_voiceprint=None)


def test_v1_fused_turn_reads_as_revision_zero():
    v1 = {"call_id": "c9", "turn_id": "c9:1:00002", "speaker": "customer", "start_s": 3.0, "end_s": 4.0,
          "negativity": 0.7, "confidence": 0.5, "voice_upset": 0.8, "polarity": None, "text": "hm"}
    turn = from_record("fused_turn", codec.decode("fused_turn", codec.encode("fused_turn", v1, version=1)))
    assert turn == FusedTurn(call_id="c9", turn_id="c9:1:00002", speaker="customer", start_s=3.0, end_s=4.0,
                             negativity=0.7, confidence=0.5, voice_upset=0.8, polarity=None,
                             emotion_label=None, text="hm", revision=0)


def test_newer_writer_than_reader_is_a_clear_error():
    """Readers upgrade before writers; an event from a future version is refused, not misread."""
    data = bytearray(codec.encode("fused_turn", {
        "call_id": "c", "turn_id": "t", "speaker": "agent", "start_s": 0.0, "end_s": 1.0, "negativity": 0.1,
        "confidence": 0.9, "voice_upset": None, "polarity": None, "text": "", "emotion_label": None, "revision": 0}))
    data[2:4] = (codec.schema_version("fused_turn") + 1).to_bytes(2, "big")
    with pytest.raises(codec.SchemaError, match="unknown to this reader"):
        codec.decode("fused_turn", bytes(data))


def test_evolution_doc_lists_every_schema_with_its_id_and_latest_version():
    import re
    from pathlib import Path

    doc = (Path(codec.__file__).parent / "EVOLUTION.md").read_text()
    rows = {m.group(2): (int(m.group(1)), int(m.group(3)))
            for m in re.finditer(r"^\|\s*(\d+)\s*\|\s*(\w+)\s*\|\s*(\d+)\s*\|", doc, re.MULTILINE)}
    assert rows == {name: (codec.schema_id(name), codec.schema_version(name)) for name in codec.SCHEMA_NAMES}
