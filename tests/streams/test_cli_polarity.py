"""`callpulse polarity` as a user runs it: stdin lines or a CSV column in, JSON lines out."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from models.polarity.data import UCI_CSV, load_labelled
from processors.text.polarity import PolarityScorer, load_default_scorer
from tests.conftest import REPO_ROOT, require_data


def callpulse(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", "polarity", *args], input=stdin.encode("utf-8"),
                          capture_output=True, cwd=REPO_ROOT, timeout=120)


def test_stdin_lines_give_one_json_object_each_in_order():
    texts = [r.text for r in load_labelled(require_data(*UCI_CSV))[:20]] + ["", "Ça ne marche pas 😡"]
    proc = callpulse(stdin="\n".join(texts) + "\n")
    assert proc.returncode == 0, proc.stderr.decode()
    out = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert [o["text"] for o in out] == texts
    scorer = load_default_scorer()
    for o in out:
        assert set(o) == {"text", "polarity", "label"}
        assert abs(o["polarity"] - scorer.score(o["text"])) < 1e-4
        assert o["label"] == PolarityScorer.label(o["polarity"])
    assert out[-2] == {"text": "", "polarity": 0.0, "label": "neutral"}


def test_csv_column(tmp_path):
    rows = load_labelled(require_data(*UCI_CSV))[:10]
    path = tmp_path / "in.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "utterance"])
        w.writerows([[i, r.text] for i, r in enumerate(rows)])
    proc = callpulse("--csv", str(path), "--column", "utterance")
    assert proc.returncode == 0, proc.stderr.decode()
    out = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert [o["text"] for o in out] == [r.text for r in rows]


def test_missing_column_or_file_is_a_clear_error(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    proc = callpulse("--csv", str(path), "--column", "text")
    assert proc.returncode == 2 and "no column 'text'" in proc.stderr.decode()
    proc = callpulse("--csv", str(tmp_path / "nope.csv"))
    assert proc.returncode == 2 and "No such file" in proc.stderr.decode()
    proc = callpulse("--model", str(tmp_path / "nope.npz"), stdin="hello\n")
    assert proc.returncode == 2 and "cannot load polarity model" in proc.stderr.decode()
