#!/usr/bin/env bash
# One prepared GPU run, in time-boxed stages that each write their own JSON into OUT_DIR (default
# benchmarks/results/gpu_<date>); a stage that fails or runs out of time is recorded in stages.txt and the next one
# still runs, so one lease always brings back what did finish:
#
#   1. model   — bench_model.py on CUDA, fp32 and bf16 + channels_last, TANet / C2D / release TAM, inference and
#                training step: clips/s, time ratios, peak memory, saved activations           (model.json)
#   2. compiled — the same under torch.compile (bf16 + channels_last), TANet and C2D               (model_compiled.json)
#   3. recompiles — bench_compile.py: Inductor compilations over batch sizes 2–6 on CUDA          (compile.json)
#   4. decode  — bench_decode.py (CPU decoding; the GPU machine's cores)                          (decode.json)
#
#   benchmarks/gpu_check.sh [OUT_DIR]             # on a CUDA machine: ~8 min (stage limits: 150+270+120+90 s)
#   benchmarks/gpu_check.sh --dry-run [OUT_DIR]   # anywhere: the same stages on CPU at toy size (checks the script)
#
# Environment: PYTHON (default: .venv/bin/python if present, else python3), ROUNDS (default 10),
# STAGE_LIMITS (seconds per stage, default "150 270 120 90").
set -uo pipefail
cd "$(dirname "$0")/.."

dry_run=0
if [[ "${1:-}" == "--dry-run" ]]; then
    dry_run=1
    shift
fi
out_dir="${1:-benchmarks/results/gpu_$(date -u +%Y%m%d_%H%M)}"
python="${PYTHON:-$([[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3)}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
read -r -a limits <<<"${STAGE_LIMITS:-150 270 120 90}"

if [[ $dry_run == 0 ]]; then
    if ! "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        echo "gpu_check.sh: CUDA is not available to $python (torch.cuda.is_available() is False); nothing was run." \
             "Use --dry-run to check the script on CPU." >&2
        exit 2
    fi
    device=cuda
    model_args=(--rounds "${ROUNDS:-10}")
    compile_args=(--device cuda --modes inference train)  # the tiny ResNet: the count is about guards, not size
    decode_args=(--rounds 5)
else
    device=cpu  # toy sizes: every stage runs, the numbers mean nothing
    model_args=(--rounds 1 --warmup 0 --batch-size 1 --num-frames 4 --image-size 32 --depths 1 1 1 1
                --hidden-sizes 16 32 64 128 --embedding-size 8 --num-labels 5)
    compile_args=(--device cpu --modes inference)
    decode_args=(--rounds 1)
fi
mkdir -p "$out_dir"
: >"$out_dir/stages.txt"

stage() {  # stage NAME LIMIT COMMAND...: run with a time limit, record the exit status and the seconds taken
    local name=$1 limit=$2 start=$SECONDS status
    shift 2
    echo "== $name (limit ${limit} s): $*"
    timeout --kill-after=10 "$limit" "$@"
    status=$?
    echo "$name exit=$status seconds=$((SECONDS - start))$([[ $status == 124 ]] && echo ' (time limit)')" \
        | tee -a "$out_dir/stages.txt"
}

"$python" - "$out_dir/environment.json" <<'PY'
import json, platform, sys, torch
info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
for module in ("transformers", "av", "torchcodec"):
    try:
        info[module] = __import__(module).__version__
    except Exception as error:  # a missing optional package is a fact to record, not a reason to stop
        info[module] = f"unavailable: {type(error).__name__}: {error}"
open(sys.argv[1], "w").write(json.dumps(info, indent=2) + "\n")
print(info)
PY

stage model "${limits[0]}" "$python" benchmarks/bench_model.py --device "$device" --settings fp32 \
    $([[ $device == cuda ]] && echo bf16-cl) "${model_args[@]}" --output "$out_dir/model.json"
stage compiled "${limits[1]}" "$python" benchmarks/bench_model.py --device "$device" \
    --settings "$([[ $device == cuda ]] && echo bf16-cl-compile || echo fp32-compile)" --networks tanet c2d \
    "${model_args[@]}" --output "$out_dir/model_compiled.json"
stage recompiles "${limits[2]}" "$python" benchmarks/bench_compile.py "${compile_args[@]}" \
    --output "$out_dir/compile.json"
stage decode "${limits[3]}" "$python" benchmarks/bench_decode.py "${decode_args[@]}" \
    --output "$out_dir/decode.json" --markdown "$out_dir/decode.md"
echo "gpu_check.sh: done; JSON in $out_dir"
cat "$out_dir/stages.txt"
