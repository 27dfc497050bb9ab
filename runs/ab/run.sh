#!/usr/bin/env bash
# One A/B arm: fine-tune the shipped default on the same 8000 mixtures (seed 0) for the same
# steps, score it on the frozen validation set and on dev. Usage: runs/ab/run.sh NAME [train args]
# (AB_INIT: another starting model; AB_STEPS: another number of steps)
# Arms share the feature cache and the validation set under runs/cache (not committed).
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1; shift
out=runs/cache/ab/$name
mkdir -p "$out"
nice -n 19 .venv/bin/edge train --out "$out" --features-dir runs/cache/features \
    --val-dir runs/cache/val --examples 8000 --val-examples 640 --seed 0 \
    --batch 128 --steps "${AB_STEPS:-120}" --lr 3e-4 --warmup-steps 10 --decay-to 0.1 \
    --checkpoint-minutes 2 --init "${AB_INIT:-edge/models/default.tflite}" "$@" 2>&1 | tee "$out/train.log"
nice -n 19 .venv/bin/edge eval ../shared/data/dev --model "$out/model.pnw" --json "$out/dev.json" \
    2>&1 | tail -4 | tee "$out/eval.log"
