"""Bundled evaluation data (real recordings with phone alignments); see real_speech/SOURCES.md."""
