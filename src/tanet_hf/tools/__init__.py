"""Inference tools behind `tanet-hf`: predict, fuse, extract-features, classify-long, export.

One module per command; each exposes `add_arguments(parser)` and `run(args) -> int` for the command line and a
Python function that does the work (`predict_videos`, `fuse_scores`, `extract_features`, `classify_long_video`,
`export_model`). They build on the model wing's public API only.
"""
