"""Training data: speech and noise sources, mixing, and features/targets from the C kernel."""
