#!/usr/bin/env bash
# One prepared GPU run: the model benchmark on CUDA (fp32, bf16 + channels_last, bf16 + channels_last + torch.compile;
# inference and training step; time ratios, peak memory, saved activations) and the decode benchmark, each writing
# JSON into OUT_DIR (default benchmarks/results/gpu_<date>). Fails at once, with a message, where CUDA is missing.
#
#   benchmarks/gpu_check.sh [OUT_DIR]             # on a CUDA machine: ~5-8 min
#   benchmarks/gpu_check.sh --dry-run [OUT_DIR]   # anywhere: the same steps on CPU at toy size (checks the script)
#
# Environment: PYTHON (default: .venv/bin/python if present, else python3), ROUNDS (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=0
if [[ "${1:-}" == "--dry-run" ]]; then
    dry_run=1
    shift
fi
out_dir="${1:-benchmarks/results/gpu_$(date -u +%Y%m%d_%H%M)}"
python="${PYTHON:-$([[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3)}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

if [[ $dry_run == 0 ]]; then
    if ! "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        echo "gpu_check.sh: CUDA is not available to $python (torch.cuda.is_available() is False); nothing was run." \
             "Use --dry-run to check the script on CPU." >&2
        exit 2
    fi
    device=cuda
    model_args=(--settings fp32 bf16-cl bf16-cl-compile --rounds "${ROUNDS:-10}")
else
    device=cpu  # toy sizes: every step of the script runs, the numbers mean nothing
    model_args=(--settings fp32 --rounds 1 --warmup 0 --batch-size 1 --num-frames 4 --image-size 32
                --depths 1 1 1 1 --hidden-sizes 16 32 64 128 --embedding-size 8 --num-labels 5)
fi
mkdir -p "$out_dir"

"$python" - "$out_dir/environment.json" <<'PY'
import json, platform, sys, torch
info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
open(sys.argv[1], "w").write(json.dumps(info, indent=2) + "\n")
print(info)
PY
echo "== model benchmark ($device) → $out_dir/model.json"
"$python" benchmarks/bench_model.py --device "$device" "${model_args[@]}" --output "$out_dir/model.json" \
    | tee "$out_dir/model.txt"
echo "== decode benchmark → $out_dir/decode.json"
decode_args=(--output "$out_dir/decode.json" --markdown "$out_dir/decode.md")
[[ $dry_run == 1 ]] && decode_args+=(--rounds 1)
"$python" benchmarks/bench_decode.py "${decode_args[@]}" | tee "$out_dir/decode.txt"
echo "gpu_check.sh: done; JSON in $out_dir"
