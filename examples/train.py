#!/usr/bin/env python
# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Train / fine-tune / evaluate TANet with 🤗 Accelerate.

    accelerate launch examples/train.py --dataset data/synthetic --recipe synthetic --arch tiny --output_dir out
    python examples/train.py --train_file k400/train.csv --validation_file k400/val.csv --video_root k400/videos \
        --recipe kinetics400 --init_from_imagenet resnet50.pth --output_dir out/k400

Every option: `python examples/train.py --help`; the logic lives in `tanet_hf.training`.
"""

import sys

from tanet_hf.training import main

if __name__ == "__main__":
    sys.exit(main())
