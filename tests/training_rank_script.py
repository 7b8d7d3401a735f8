"""Run `examples/train.py`'s `train` from the command line and save every rank's final weights (for the DDP test).

    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 tests/training_rank_script.py \
        --dataset DATA --output_dir OUT ...        # the same flags as examples/train.py

Each process writes `OUT/rank_weights/rank<i>.safetensors`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from train import parse_arguments, train  # noqa: E402


def train_and_save_rank_weights(argv: list[str]) -> None:
    """`train` with `examples/train.py`'s flags `argv`; this rank's final weights to
    `<output_dir>/rank_weights/rank<RANK>.safetensors`."""
    model_args, data_args, train_args = parse_arguments(argv)
    result = train(model_args, data_args, train_args)
    rank = int(os.environ.get("RANK", "0"))
    folder = Path(train_args.output_dir) / "rank_weights"
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in result.model.state_dict().items()}
    save_file(state, str(folder / f"rank{rank}.safetensors"))


def main() -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    train_and_save_rank_weights(sys.argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
