"""Denoisers by name (imported lazily so "off" never loads a model)."""

from __future__ import annotations

from typing import Callable

from processors.denoise.base import Denoiser, NoDenoiser


def _spectral_gate() -> Denoiser:
    from processors.denoise.spectral_gate import SpectralGate

    return SpectralGate()


def _dtln() -> Denoiser:
    from processors.denoise.dtln import Dtln

    return Dtln()


FACTORIES: dict[str, Callable[[], Denoiser]] = {
    "off": NoDenoiser,
    "spectral_gate": _spectral_gate,
    "dtln": _dtln,
}
