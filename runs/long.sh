#!/usr/bin/env bash
# The long run on the recipe the A/B chose (runs/ab/run.sh arm B: gamma 0.3, strength weight 0.3)
# over 40000 mixtures, five times the 8000 that runs/long8k overfitted after 3 epochs; it starts
# from runs/long8k's best (step 345). Resumable across sessions: run it again and it continues
# from runs/long's checkpoint (the features are rebuilt into runs/cache first on a new machine,
# about 20 minutes on 2 cores). Usage: runs/long.sh HOURS
set -euo pipefail
cd "$(dirname "$0")/.."
nice -n 19 .venv/bin/edge train --out runs/long --features-dir runs/cache/features \
    --val-dir runs/cache/val --examples 40000 --val-examples 640 --seed 0 \
    --batch 128 --steps 3000 --lr 3e-4 --warmup-steps 50 --decay-to 0.05 \
    --gamma 0.3 --strength-weight 0.3 --checkpoint-minutes 4 \
    --init runs/long8k/model.tflite --hours "${1:-0.5}" 2>&1 | tee -a runs/cache/long.log
