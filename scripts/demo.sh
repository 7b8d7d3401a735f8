#!/usr/bin/env bash
# The main job, offline, from a fresh clone: set up .venv/, generate the synthetic motion dataset, train TANet and
# its C2D baseline (the same network without TAM) with the Accelerate script, evaluate them, save them, classify
# the held-out videos with pipeline("video-classification"), and print the held-out accuracy of both.
#
#   bash scripts/demo.sh                 # about 5 minutes on 2 CPU cores once .venv/ exists
#   DEMO_DIR=/tmp/demo bash scripts/demo.sh
#
# Knobs (environment): DEMO_DIR (demo_output), EPOCHS (default: the synthetic recipe's 4), SEED (0),
# WORKERS (DataLoader workers, 1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_venv.sh test,torchcodec

export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export HF_DATASETS_CACHE="${DEMO_DIR:-demo_output}/hf_datasets_cache"
demo="${DEMO_DIR:-demo_output}"
seed="${SEED:-0}"
workers="${WORKERS:-1}"
start=$SECONDS

echo "== 1/4 synthetic motion dataset → $demo/data"
.venv/bin/tanet-hf make-synthetic "$demo/data" --seed "$seed" --overwrite

# TensorBoard logs when TensorBoard is installed (it is not part of the default set-up)
report=$(.venv/bin/python -c "import importlib.util; print('tensorboard' if importlib.util.find_spec('tensorboard') else 'none')")

for model in tanet c2d; do
  module=$([ "$model" = tanet ] && echo tam || echo none)
  echo "== $([ "$model" = tanet ] && echo 2 || echo 3)/4 train ${model^^} (temporal_module=$module) with accelerate launch"
  .venv/bin/accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no \
    examples/train.py \
    --dataset "$demo/data" --recipe synthetic --arch tiny --num_frames 8 --temporal_module "$module" \
    --per_device_train_batch_size 16 ${EPOCHS:+--num_train_epochs "$EPOCHS"} --seed "$seed" --dataloader_num_workers "$workers" \
    --output_dir "$demo/$model" --logging_steps 40 --report_to "$report" --run_name "$model"
done

echo "== 4/4 classify the held-out videos with pipeline(\"video-classification\")"
.venv/bin/python - "$demo" <<'EOF'
import json
import sys
from pathlib import Path

import tanet_hf  # noqa: F401  (registers TANet with transformers' Auto classes and the pipeline)
from transformers import AutoVideoProcessor, pipeline

demo = Path(sys.argv[1])
videos = sorted((demo / "data" / "test").glob("*/*.mp4"))
truth = [video.parent.name for video in videos]
rows = []
for name in ("tanet", "c2d"):
    folder = str(demo / name / "model")  # batching collates through a feature extractor: the video processor
    classifier = pipeline("video-classification", model=folder, feature_extractor=AutoVideoProcessor.from_pretrained(folder))
    predictions = classifier([str(v) for v in videos], top_k=1, batch_size=8)
    accuracy = sum(p[0]["label"] == t for p, t in zip(predictions, truth)) / len(videos)
    protocol = json.loads((demo / name / "eval_results.json").read_text())["test_multi_view"]
    rows.append((name, accuracy, protocol["top1"], protocol["protocol"]))
    example = videos[0]
    print(f"{name}: {example.relative_to(demo / 'data')} → {predictions[0][0]['label']} ({predictions[0][0]['score']:.2f})")

print()
print(f"Held-out accuracy on {len(videos)} test videos ({len(set(truth))} classes, chance {1 / len(set(truth)):.2f}):")
print(f"{'model':8} {'pipeline (1 clip)':>18} {'multi-view':>11}")
for name, accuracy, multi_view, protocol in rows:
    print(f"{name.upper():8} {accuracy:18.3f} {multi_view:11.3f}   ({protocol})")
EOF
logs=$([ "$report" = tensorboard ] && echo ", TensorBoard logs in $demo/*/logs" || true)
echo "(demo took $((SECONDS - start)) s; models in $demo/tanet/model and $demo/c2d/model$logs)"
