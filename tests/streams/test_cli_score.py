"""`callpulse score`: JSON line per file, folders expanded, bad files reported, exit status."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from processors.types import EMOTION_LABELS
from streams.cli import main
from tests.conftest import require_data


def _lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_scores_files_and_folders_with_bad_ones(tmp_path, capsys):
    savee = require_data("ser", "savee")
    real = sorted(savee.glob("DC_a0*.flac"))[:2]
    audio, rate = sf.read(str(real[0]), dtype="float32")
    import soxr

    stereo = np.stack([soxr.resample(audio, rate, 44_100)] * 2, axis=1)
    folder = tmp_path / "calls"
    folder.mkdir()
    sf.write(folder / "stereo_44k.wav", stereo, 44_100)
    sf.write(folder / "short.wav", audio[: int(0.2 * rate)], rate)
    sf.write(folder / "silent.flac", np.zeros(rate, np.float32), rate)
    (folder / "broken.wav").write_bytes(b"RIFF not really a wav")
    rc = main(["score", str(real[1]), str(folder)])
    lines = _lines(capsys)
    assert rc == 0
    by_name = {l["path"].rsplit("/", 1)[-1]: l for l in lines}
    assert set(by_name) == {real[1].name, "stereo_44k.wav", "short.wav", "silent.flac", "broken.wav"}
    for name in (real[1].name, "stereo_44k.wav"):
        line = by_name[name]
        assert set(line) == {"path", "duration_s", "emotions", "upset", "label"}
        assert tuple(line["emotions"]) == EMOTION_LABELS and abs(sum(line["emotions"].values()) - 1) < 1e-3
        assert line["label"] == max(line["emotions"], key=line["emotions"].get)
        assert 0.0 <= line["upset"] <= 1.0
    assert abs(by_name["stereo_44k.wav"]["duration_s"] - len(audio) / rate) < 0.01
    assert "too short" in by_name["short.wav"]["error"]
    assert "silent" in by_name["silent.flac"]["error"]
    assert "cannot read" in by_name["broken.wav"]["error"]


def test_exit_status_when_every_file_fails(tmp_path, capsys):
    (tmp_path / "broken.wav").write_bytes(b"nope")
    assert main(["score", str(tmp_path / "broken.wav"), str(tmp_path / "missing.flac")]) == 1
    lines = _lines(capsys)
    assert len(lines) == 2 and all("error" in l for l in lines)
