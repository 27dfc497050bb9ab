"""percepnet-edge: PercepNet-style speech enhancement for ARM boards."""

__version__ = "0.1.0"
