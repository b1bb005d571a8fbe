#!/usr/bin/env bash
# Every GPU figure of the speed targets, in one go, on one GPU machine (no network needed):
#   bash scripts/gpu_benchmarks.sh [OUT.jsonl]
# 1. data pipeline on a synthetic 1280x720 tree (generated at $BENCH_ROOT if missing), all CPU workers;
# 2. B192 training step in bf16 at the largest batch that fits, against the original's fp32 eager setting;
# 3. the same with train.compile;
# 4. tracking with and without the decoder's KV cache, bf16 and fp32;
# 5. seqtrack-profile: the network's latency per frame for B256 (the paper's 40 FPS setting), fp32 and bf16, batch 1.
# The model starts from random weights (model.init=scratch): speed does not depend on the weights.
set -euo pipefail
out=${1:-bench_gpu.jsonl}
root=${BENCH_ROOT:-/tmp/bench_lasot_1280x720}
workers=${BENCH_WORKERS:-$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))}
common=("data.datasets[0].root=$root" model.init=scratch)

python scripts/bench_data.py --root "$root" --config configs/seqtrack_b192.yaml --samples 600 \
    --workers "$workers" --make_synthetic 1280x720 | tee -a "$out"
python scripts/bench_train.py --config configs/seqtrack_b192.yaml --mixed_precision bf16 --batch_size auto \
    --workers "$workers" --steps 50 --baseline "${common[@]}" | tee -a "$out"
python scripts/bench_train.py --config configs/seqtrack_b192.yaml --mixed_precision bf16 --batch_size auto \
    --workers "$workers" --steps 50 --compile "${common[@]}" | tee -a "$out"
for dtype in bfloat16 float32; do
    python scripts/bench_track.py --config configs/seqtrack_b192.yaml --device cuda --dtype "$dtype" \
        --frames 300 "${common[@]}" | tee -a "$out"
done
for dtype in float32 bfloat16; do
    seqtrack-profile --config seqtrack_b256 --device cuda --dtype "$dtype" --frames 300 --warmup 20 | tee -a "$out"
done
