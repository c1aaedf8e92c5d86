"""`callpulse diarize`: standard RTTM from the streaming front end."""

from __future__ import annotations

from streams.cli import main
from tests.conftest import require_data


def test_diarize_prints_rttm_with_roles(capsys):
    path = require_data("diarization", "sample.flac")
    assert main(["diarize", str(path), "--roles"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) >= 5
    for line in lines:
        f = line.split()
        assert len(f) == 10 and f[0] == "SPEAKER" and f[1] == "sample" and f[2] == "1"
        assert float(f[3]) >= 0 and float(f[4]) > 0 and f[7] in ("agent", "customer")
    assert {line.split()[7] for line in lines} == {"agent", "customer"}


def test_diarize_cluster_labels_and_bad_file(capsys, tmp_path):
    path = require_data("diarization", "sample.flac")
    assert main(["diarize", str(path), "--encoding", "mulaw", "--rate", "8000"]) == 0
    speakers = {line.split()[7] for line in capsys.readouterr().out.strip().splitlines()}
    assert speakers and all(s.startswith("spk") for s in speakers)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    assert main(["diarize", str(bad)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_diarize_relabel_prints_the_same_speech(capsys):
    path = require_data("diarization", "sample.flac")
    assert main(["diarize", str(path)]) == 0
    live = [line.split() for line in capsys.readouterr().out.strip().splitlines()]
    assert main(["diarize", str(path), "--relabel", "--roles"]) == 0
    final = [line.split() for line in capsys.readouterr().out.strip().splitlines()]
    assert final and {f[7] for f in final} <= {"agent", "customer"}
    speech = lambda rows: round(sum(float(f[4]) for f in rows), 2)
    assert abs(speech(final) - speech(live)) <= 0.01 * len(final)  # rounding of printed times only
