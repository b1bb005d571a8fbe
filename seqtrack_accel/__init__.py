"""seqtrack-accel: train the SeqTrack visual object tracker with Hugging Face Accelerate."""

__version__ = "0.1.0"
