#!/bin/sh
# The `edge` command of this release, run by ${python} (rendered from a template).
release=$$(dirname "$$(dirname "$$(readlink -f "$$0")")")
PYTHONPATH="$$release$${PYTHONPATH:+:$$PYTHONPATH}" exec ${python} -m edge.cli "$$@"
