#!/usr/bin/env bash
# On the GPU machine, from the project root with .gpu/ staged by ../shared/gpu/stage.sh: the engine benchmark, the
# PyTorch comparison on the same ref-ar weights, and the GPU checks, in one run. Results go to $OUT.
set -uo pipefail
out=${OUT:-/tmp/mesh-gpu-out}
models=/tmp/mesh-gpu-models
python=/opt/torch/.venv/bin/python
mkdir -p "$out"
bash .gpu/device.sh .gpu/app/Mesh.GpuBench --generate-only --models "$models" || exit 1
timeout "${TORCH_TIMEOUT:-200}" "$python" tests/Mesh.GpuBench/torch_ref_ar.py --model "$models/ref-ar/step.onnx" --out "$out/torch.json" \
  || echo "torch comparison incomplete (exit $?)"
bash .gpu/device.sh .gpu/app/Mesh.GpuBench --models "$models" --torch "$out/torch.json" --out "$out" "$@"
