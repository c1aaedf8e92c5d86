"""The emotion network (torch): masked 1-D CNN over log-mel frames + attentive statistics pooling.

Input: features (batch, frames, n_mels) float32, zero-padded; lengths (batch,) int64 valid frames.
Output: probs (batch, n_classes) softmax probabilities (and logits in training).

Why this shape instead of the seeds' CNN + BiLSTM: the streaming scorer batches turns of many calls and
a turn's score must not depend on its batch-mates. Every layer here is a convolution along time
followed by a per-frame LayerNorm (no batch statistics), and after every layer the padded frames are
set back to zero, so a valid frame sees exactly the zeros it would see at the edge of a lone turn;
squeeze-excitation and pooling average over valid frames only. The result is equal (to float rounding)
whether a turn is scored alone or beside longer turns. A BiLSTM would need packing to get the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _masked_mean(x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x (B, C, T), mask (B, 1, T) -> (B, C) mean over valid frames."""
    return (x * mask).sum(dim=2) / lengths.unsqueeze(1)


def _length_mask(lengths: torch.Tensor, frames: int, dtype: torch.dtype) -> torch.Tensor:
    """(B,) valid lengths -> (B, 1, frames) 1.0 at valid frames, 0.0 at padding."""
    return (torch.arange(frames, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(1).to(dtype)


class FrameNorm(nn.Module):
    """LayerNorm over channels at each frame: independent of other frames and other batch items."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class ResBlock(nn.Module):
    """Dilated conv -> FrameNorm -> GELU -> masked squeeze-excitation, residual, padded frames zeroed."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float, se_ratio: int = 4):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation)
        self.norm = FrameNorm(channels)
        self.se_down = nn.Linear(channels, channels // se_ratio)
        self.se_up = nn.Linear(channels // se_ratio, channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.norm(self.conv(x))) * mask
        gate = torch.sigmoid(self.se_up(F.relu(self.se_down(_masked_mean(y, mask, lengths)))))
        y = self.dropout(y * gate.unsqueeze(2))
        return (x + y) * mask


class EmotionNet(nn.Module):
    def __init__(
        self,
        n_mels: int = 64,
        n_classes: int = 7,
        channels: int = 96,
        dilations: tuple[int, ...] = (1, 2, 3, 1),
        dropout: float = 0.2,
    ):
        super().__init__()
        self.config = dict(n_mels=n_mels, n_classes=n_classes, channels=channels, dilations=list(dilations), dropout=dropout)
        self.stem = nn.Conv1d(n_mels, channels, kernel_size=5, stride=2, padding=2)
        self.stem_norm = FrameNorm(channels)
        self.stem2 = nn.Conv1d(channels, channels, kernel_size=3, stride=2, padding=1)
        self.stem2_norm = FrameNorm(channels)
        self.blocks = nn.ModuleList(ResBlock(channels, 3, d, dropout) for d in dilations)
        self.att_hidden = nn.Conv1d(channels, 64, 1)
        self.att_score = nn.Conv1d(64, 1, 1)
        self.head = nn.Sequential(
            nn.Linear(2 * channels, 128), nn.GELU(), nn.Dropout(dropout), nn.Linear(128, n_classes)
        )

    def logits(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, F) features + (B,) lengths -> (B, classes); two stride-2 convs take 100 fps to 25 fps."""
        x = features.transpose(1, 2)  # (B, F, T)
        x = x * _length_mask(lengths, x.shape[2], x.dtype)
        lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
        x = self.stem(x)
        x = F.gelu(self.stem_norm(x)) * _length_mask(lengths, x.shape[2], x.dtype)
        lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
        x = self.stem2(x)
        mask = _length_mask(lengths, x.shape[2], x.dtype)
        len_f = lengths.to(x.dtype)
        x = F.gelu(self.stem2_norm(x)) * mask
        for block in self.blocks:
            x = block(x, mask, len_f)
        # attentive statistics pooling over valid frames only
        score = self.att_score(torch.tanh(self.att_hidden(x)))  # (B, 1, T)
        score = score + (mask - 1.0) * 1e4
        w = torch.softmax(score, dim=2) * mask
        w = w / w.sum(dim=2, keepdim=True)
        mean = (w * x).sum(dim=2)
        var = (w * x * x).sum(dim=2) - mean * mean
        std = torch.sqrt(torch.clamp(var, min=1e-6))
        return self.head(torch.cat([mean, std], dim=1))

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(features, lengths), dim=1)
