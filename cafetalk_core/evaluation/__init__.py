"""Evaluation: metrics, the synthetic corpus report, real-speech report, emotion classifier, tuning, bundled sets."""
