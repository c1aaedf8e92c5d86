"""Transcript polarity model: training code, the shipped weights (`polarity_v1.npz`) and its card."""
