"""One process of the 2-process streaming test (launched by tests/test_streaming.py):

    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 tests/streaming_rank_script.py \
        SHARDS OUT --dataset SHARDS --output_dir OUT/run ...   # then examples/train.py's flags

1. reads two epochs of the shards through `StreamingClipDataset` with 2 DataLoader workers and writes the stream
   positions and sample keys this rank saw to `OUT/seen_rank<i>.json`;
2. trains with `examples/train.py`'s `train` on the same shards (streaming) and saves the rank's final weights to
   `OUT/rank_weights/rank<i>.safetensors`.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from accelerate import Accelerator
from training_rank_script import train_and_save_rank_weights

from tanet_hf import TANetVideoProcessor
from tanet_hf.training.streaming import StreamingClipDataset, load_streaming_source, make_streaming_dataloader


def main() -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    shards, out = Path(sys.argv[1]), Path(sys.argv[2])
    accelerator = Accelerator()
    rank = accelerator.process_index
    source = load_streaming_source(shards, "train")
    processor = TANetVideoProcessor(num_frames=4, short_side_size=32, crop_size=32)
    clips = StreamingClipDataset(source, processor, 2, seed=5, rank=rank, world_size=accelerator.num_processes)
    seen = {}
    for epoch in (0, 1):
        clips.set_epoch(epoch)
        keys = [row["video"]["path"] for row in clips.rank_stream()]
        positions = [p for batch in make_streaming_dataloader(clips, num_workers=2) for p in batch["index"].tolist()]
        seen[str(epoch)] = {"positions": positions, "keys": keys}
    (out / f"seen_rank{rank}.json").write_text(json.dumps(seen))
    accelerator.wait_for_everyone()

    train_and_save_rank_weights(sys.argv[3:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
