import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


def tiny_config_kwargs(**overrides):
    """A TANet small enough for behaviour tests: 4 frames, widths 16–128, one block per stage."""
    kwargs = dict(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], embedding_size=8, num_frames=4, num_labels=5)
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
def tiny_config():
    from tanet_hf import TANetConfig

    return TANetConfig(**tiny_config_kwargs())
