#!/bin/sh
# The `edge` command of this release, run by ${python} (rendered from a template). pylib/
# holds the release's ALSA binding, ahead of the board's own python3-alsaaudio.
release=$$(dirname "$$(dirname "$$(readlink -f "$$0")")")
PYTHONPATH="$$release/pylib:$$release$${PYTHONPATH:+:$$PYTHONPATH}" exec '${python}' -m edge.cli "$$@"
