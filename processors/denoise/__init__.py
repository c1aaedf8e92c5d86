"""Denoisers behind one interface (`Denoiser`); pick one by name with `make_denoiser`."""

from processors.denoise.base import Denoiser, NoDenoiser, available_denoisers, make_denoiser

__all__ = ["Denoiser", "NoDenoiser", "available_denoisers", "make_denoiser"]
