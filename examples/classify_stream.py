#!/usr/bin/env python
# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Label a live camera or network stream with a TANet classifier, one label per sliding window.

    python examples/classify_stream.py MODEL /dev/video0 --input-format v4l2      # a webcam on Linux
    python examples/classify_stream.py MODEL rtsp://camera.local/stream --window-seconds 2 --stride-seconds 0.5
    python examples/classify_stream.py MODEL recording.mp4                        # a file, as if it were live

A ring buffer keeps the last window of frames (`--window-seconds` × the stream's frame rate); once it is full, every
`--stride-seconds` the T frames in the middles of T equal segments of the buffer are classified. TAM is non-causal
and its global branch is tied to T, so a label describes the whole window: it lags the live picture by one window
length (plus the model's run time). For files, `tanet-hf classify-long` does the same with memory independent of the
window length.
"""

import argparse
import collections
import sys

import av
import torch

from tanet_hf.tools.loading import classify, load_classifier
from tanet_hf.tools.windows import WindowPlan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="Model folder (weights, config, video_preprocessor_config.json) or Hub id.")
    parser.add_argument("source", help="Camera device, stream URL or file.")
    parser.add_argument("--input-format", help="FFmpeg input format, e.g. v4l2 (Linux), avfoundation (macOS).")
    parser.add_argument("--window-seconds", type=float, default=2.0)
    parser.add_argument("--stride-seconds", type=float, default=0.5)
    parser.add_argument("--fps", type=float, help="Frame rate to assume when the stream declares none.")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()

    network, processor = load_classifier(args.model)
    labels = [network.config.id2label[i] for i in range(network.config.num_labels)]
    container = av.open(args.source, format=args.input_format)
    stream = container.streams.video[0]
    fps = float(stream.average_rate or args.fps or 0)
    if not fps:
        parser.error(f"{args.source} declares no frame rate; pass --fps.")
    plan = WindowPlan.from_seconds(
        args.source, fps, args.window_seconds, args.stride_seconds, network.config.num_frames
    )
    offsets = plan.sample(0)  # the T sampled positions inside a window
    ring = collections.deque(maxlen=plan.window_frames)
    print(f"{fps:g} fps; window {plan.window_frames} frames, label every {plan.stride_frames} frames", file=sys.stderr)

    for count, frame in enumerate(container.decode(stream), start=1):
        ring.append(torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1))
        if len(ring) < plan.window_frames or (count - plan.window_frames) % plan.stride_frames:
            continue
        clip = torch.stack([ring[i] for i in offsets])  # (T, 3, H, W) uint8
        probabilities = classify(network, processor(clip, do_sample_frames=False)["pixel_values"]).softmax(-1)[0]
        values, classes = probabilities.topk(min(args.top_k, len(labels)))
        start = (count - plan.window_frames) / fps
        ranked = "  ".join(f"{labels[c]} {v:.2f}" for v, c in zip(values.tolist(), classes.tolist()))
        print(f"{start:8.2f}–{count / fps:8.2f} s  {ranked}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
