"""Inference tools behind `tanet-hf`: evaluate, predict, fuse, extract-features, classify-long, export.

One module per command; each exposes `add_arguments(parser)` and `run(args) -> int` for the command line and a
Python function that does the work (`evaluate_dataset`, `predict_videos`, `fuse_scores`, `extract_features`,
`classify_long_video`, `export_model`). They build on the model wing's public API; `evaluate` also on the training
kit's data loader and evaluation (one implementation of the metrics), and `shard` on its data loader.
"""
