"""The network: definition (arch), int8 TFLite export, TFLite reference step."""
