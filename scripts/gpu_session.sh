#!/usr/bin/env bash
# The one prepared device check (issues #16 and #18), for a session that is lent a CUDA machine:
#   1. encode throughput of cat-mel_2bar_big and hierdec-mel_16bar at batch 512, fp32 and bf16, and training
#      steps/s of the 16-bar recipe (benchmarks/bench_gpu.py, about a minute);
#   2. the 16-bar model trained for TRAIN_MINUTES (default 8) with the best CPU recipe (hierarchical encoder,
#      64 free bits, beta warm-up, a 4-bar curriculum) in bf16, evaluated against always-hold every 250 steps.
# Everything it brings back is under $OUT (at most 8 files): gpu.json, train.log, card.json, metrics.json,
# model.safetensors, config.json, train_state.json. Ship with scripts/ship_model.py afterwards, here.
# Needs only python3 with torch, numpy, pandas, pyarrow, safetensors, scipy and tqdm (the device image has them);
# the package runs from src/ without installing. DRY_RUN=1 runs the same steps tiny, on the CPU (for the test).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu_session}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  DEVICE=cpu; BENCH="--configs mn-mel_2bar --batch 8 --repeats 1 --train-steps 2 --train-batch 4"
  TRAIN="--steps 3 --batch-size 4 --eval-every 2 --curriculum-steps 1"; MINUTES=1
else
  DEVICE=${DEVICE:-cuda}; BENCH=""; TRAIN="--steps ${STEPS:-100000} --eval-every 250 --curriculum-steps 1000"
  MINUTES=${TRAIN_MINUTES:-8}
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
fi
"$PY" benchmarks/bench_gpu.py --device "$DEVICE" $BENCH --out "$OUT/gpu.json"
PRECISION=$("$PY" -c "import torch; from musicneurons.model.musicvae import bf16_supported; \
print('bf16' if bf16_supported(torch.device('$DEVICE')) else 'fp32')")
"$PY" -m musicneurons.cli train --config mn-hier-mel_16bar --corpus builtin --seed 0 --device "$DEVICE" \
  --precision "$PRECISION" --free-bits 64 --beta-rate 0.999 --curriculum-bars 4 $TRAIN \
  --time-limit "$MINUTES" -o "$OUT/16bar" 2>&1 | tee "$OUT/train.log"
for f in card.json metrics.json model.safetensors config.json train_state.json; do
  [[ -f "$OUT/16bar/$f" ]] && mv "$OUT/16bar/$f" "$OUT/$f"
done
rm -rf "$OUT/16bar"
ls -l "$OUT"
