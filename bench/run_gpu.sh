#!/usr/bin/env bash
# The benchmark on a GPU machine with JAX, no TensorFlow and no internet: Keras from wheels.
#
#   bash bench/run_gpu.sh grid     # fit vs fast per epoch, data of the real sizes, every architecture (~6-8 min)
#   bash bench/run_gpu.sh tr1      # Fashion-MNIST Arch 2 TR1, 50 epochs, real data, end to end: fit and fast,
#                                  # then fast twice more (the second with JAX's compilation cache warm) (~4 min)
#
# Needs in the working tree (ignored paths, named in `carry`): .whl/ with the keras, namex and optree wheels
# (`pip download keras namex optree --no-deps -d .whl` where there is internet) and, for `tr1`, .fmnist/ with
# the four Fashion-MNIST .gz files.
# Writes JSON lines and the printed table under $OUT.
set -euo pipefail
part="${1:-grid}"
out="${OUT:-/tmp/bench-out}"
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:${PYTHONPATH:-}" KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
case "$part" in
  grid)
    python3 bench/bench_train.py --grid gpu --epochs 3 --jsonl "$out/gpu-grid.jsonl" 2>&1 | tee "$out/gpu-grid.txt"
    # fast's two JAX loops on the GPU: scans of 64 steps (the default there) against single jitted steps
    python3 bench/bench_train.py --rows fmnist_arch2:32 cifar_arch3:32 --engines fast-scans,fast-steps --epochs 3 \
      --jsonl "$out/gpu-grid.jsonl" 2>&1 | tee -a "$out/gpu-grid.txt"
    ;;
  tr1)
    python3 bench/bench_train.py --full-run --real-data .fmnist --rows fmnist_arch2:32 --epochs 50 \
      --jsonl "$out/gpu-tr1.jsonl" 2>&1 | tee "$out/gpu-tr1.txt"
    # fast twice in one process (as the dashboard's worker lives): the second run finds its programs compiled.
    python3 bench/bench_train.py --full-run --real-data .fmnist --rows fmnist_arch2:32 --epochs 50 --engines fast \
      --repeat 2 --jsonl "$out/gpu-tr1.jsonl" 2>&1 | tee -a "$out/gpu-tr1.txt"
    ;;
  *)
    echo "usage: bash bench/run_gpu.sh grid|tr1" >&2
    exit 2
    ;;
esac
