"""Benchmarks that print figures: DSP alone (dsp), network sizes (models), on-device (device)."""
