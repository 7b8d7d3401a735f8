# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""The training kit: the reusable pieces of TANet training, each in a room of its own.

- `datasets`: annotation readers and `load_video_classification_data` (every source → `datasets` splits);
- `loading`: the clip dataset decoded in DataLoader workers, its sampler, collate and DataLoader;
- `streaming`: WebDataset shards and Hub streams, shared out over ranks and workers, resumed exactly;
- `augmentation`: the release's training augmentation (the video processor is inference-only);
- `recipes`: the recipe in use (a registry `Recipe` with command-line overrides), lr scaling and schedule;
- `arguments`: the command-line arguments;
- `builders`: model, video processor, augmentation and optimizer builders;
- `checkpointing`: atomic, resumable, signal-safe checkpoints;
- `evaluation`: metrics of a model on a split, single- and multi-view, confusion matrix;
- `model_folder`: the trained model's `save_pretrained` folder with its card.

The loop itself is `examples/train.py` (Accelerate) and `examples/finetune_trainer.py` (`transformers.Trainer`).
Import from the rooms (`from tanet_hf.training.builders import build_model`); this package imports none of them,
so that `tanet_hf.training.augmentation` stays light.
"""
