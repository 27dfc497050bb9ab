#!/usr/bin/env bash
# The long run on the recipe the A/B chose (runs/ab/run.sh arm B: gamma 0.3, strength weight 0.3),
# resumable across sessions: run it again and it continues from runs/long's checkpoint.
# Usage: runs/long.sh HOURS
set -euo pipefail
cd "$(dirname "$0")/.."
nice -n 19 .venv/bin/edge train --out runs/long --features-dir runs/cache/features \
    --val-dir runs/cache/val --examples 8000 --val-examples 640 --seed 0 \
    --batch 128 --steps 4000 --lr 3e-4 --warmup-steps 50 --decay-to 0.05 \
    --gamma 0.3 --strength-weight 0.3 --checkpoint-minutes 4 \
    --init edge/models/default.tflite --hours "${1:-0.5}" 2>&1 | tee -a runs/cache/long.log
