"""Text normalisation shared by polarity training and runtime, so both see the same strings.

Input: raw text (an ASR segment, a tweet, a review sentence).
Output: `normalize_text(text) -> str`: handles, URLs and markup removed, whitespace collapsed,
case kept (VADER reads capitals as emphasis); `model_text` lower-cases it for the n-gram model.
"""

from __future__ import annotations

import html
import re

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@\w+")
_HASH = re.compile(r"(?<!\w)#(\w)")
_SPACE = re.compile(r"\s+")
_ASR_TAGS = re.compile(r"\[(?:noise|laughter|inaudible|music|silence|crosstalk)\]|<unk>", re.IGNORECASE)


def normalize_text(text: str) -> str:
    """Drop what carries no sentiment in speech: @handles, URLs, '#', HTML entities, ASR tags."""
    text = html.unescape(text)
    text = _URL.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    text = _HASH.sub(r"\1", text)
    text = _ASR_TAGS.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def model_text(text: str) -> str:
    """The form the n-gram model reads: normalised and lower-cased."""
    return normalize_text(text).lower()
