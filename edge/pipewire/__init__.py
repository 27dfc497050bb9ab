"""The kernel inside PipeWire: a filter-chain drop-in that runs the LADSPA plugin between the
default capture device and a "Denoised microphone" virtual source (config.py renders it,
install.py installs it for this machine's user; edge flash --pipewire does it on a board)."""
