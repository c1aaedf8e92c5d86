"""Labelled emotional speech: file-name parsers for the public corpora and a CSV manifest.

Input: a folder (searched recursively for .wav/.flac) and/or a CSV manifest with columns
path,label,speaker (paths relative to the manifest's folder unless absolute).
Output: `Clip(path, corpus, speaker, label)` with `label` in processors.types.EMOTION_LABELS.

Label mapping into the 7 labels (documented in MODEL_CARD.md):
- RAVDESS calm -> neutral (both are the low-arousal, non-valenced reading of the sentence);
- EmoDB boredom (L) -> neutral: a bored caller is not upset, and dropping 81 clips of a low-arousal
  state would leave the model no example of flat, disengaged speech;
- TESS "ps" (pleasant surprise) and RAVDESS "surprised" -> surprise.
Speaker ids are unique across corpora when written as `clip.speaker_key` ("corpus:speaker").
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from processors.types import EMOTION_LABELS

AUDIO_SUFFIXES = (".wav", ".flac")


@dataclass(frozen=True)
class Clip:
    path: Path
    corpus: str
    speaker: str
    label: str

    @property
    def speaker_key(self) -> str:
        return f"{self.corpus}:{self.speaker}"


RAVDESS_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
RAVDESS_LABELS = {
    "01": "neutral", "02": "neutral", "03": "happy", "04": "sad",
    "05": "angry", "06": "fear", "07": "disgust", "08": "surprise",
}
CREMAD_RE = re.compile(r"^(\d{4})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_([A-Z]{1,2})$")
CREMAD_LABELS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
SAVEE_RE = re.compile(r"^(?:(DC|JE|JK|KL)_)?(sa|su|a|d|f|h|n)(\d\d)$")
SAVEE_LABELS = {"a": "angry", "d": "disgust", "f": "fear", "h": "happy", "n": "neutral", "sa": "sad", "su": "surprise"}
SAVEE_SPEAKERS = {"DC", "JE", "JK", "KL"}
TESS_RE = re.compile(r"^(OAF|OA|YAF)_([A-Za-z]+)_(angry|disgust|fear|happy|neutral|ps|sad)$", re.IGNORECASE)
TESS_LABELS = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy",
               "neutral": "neutral", "ps": "surprise", "sad": "sad"}
EMODB_RE = re.compile(r"^(\d\d)([a-z]\d\d)([WLEAFTN])([a-z])$")
EMODB_LABELS = {"W": "angry", "L": "neutral", "E": "disgust", "A": "fear", "F": "happy", "T": "sad", "N": "neutral"}


def parse_name(path: Path) -> Clip | None:
    """Recognise a clip by its corpus's own file-name convention; None when no convention matches."""
    stem = path.stem
    if m := RAVDESS_RE.match(stem):
        return Clip(path, "ravdess", m.group(7), RAVDESS_LABELS[m.group(3)]) if m.group(3) in RAVDESS_LABELS else None
    if m := CREMAD_RE.match(stem):
        return Clip(path, "cremad", m.group(1), CREMAD_LABELS[m.group(3)])
    if m := TESS_RE.match(stem):
        speaker = m.group(1).upper()
        return Clip(path, "tess", "OAF" if speaker == "OA" else speaker, TESS_LABELS[m.group(3).lower()])
    if m := EMODB_RE.match(stem):
        return Clip(path, "emodb", m.group(1), EMODB_LABELS[m.group(3)])
    if m := SAVEE_RE.match(stem):
        speaker = m.group(1) or path.parent.name
        if speaker in SAVEE_SPEAKERS:
            return Clip(path, "savee", speaker, SAVEE_LABELS[m.group(2)])
    return None


def list_clips(root: str | Path) -> list[Clip]:
    """Every recognised labelled clip under `root` (recursive), sorted by path."""
    root = Path(root)
    clips = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()):
        clip = parse_name(path)
        if clip is not None:
            clips.append(clip)
    return clips


def read_manifest(csv_path: str | Path, corpus: str = "manifest") -> list[Clip]:
    """Clips from a CSV with columns path,label,speaker; labels must be among EMOTION_LABELS."""
    csv_path = Path(csv_path)
    clips = []
    with open(csv_path, newline="") as fh:
        for row_no, row in enumerate(csv.DictReader(fh), start=2):
            label = row["label"].strip().lower()
            if label not in EMOTION_LABELS:
                raise ValueError(f"{csv_path}:{row_no}: label {label!r} not in {EMOTION_LABELS}")
            path = Path(row["path"].strip())
            if not path.is_absolute():
                path = csv_path.parent / path
            clips.append(Clip(path, corpus, row["speaker"].strip(), label))
    return clips
