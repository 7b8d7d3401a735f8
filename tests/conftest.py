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


@pytest.fixture
def fresh_accelerate_state():
    """Each training run builds its own `Accelerator`; forget accelerate's process-wide state after the test."""
    yield
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """Synthetic videos in the training layout: two classes (approaching / receding), 8 + 2 + 2 videos per class,
    32 px, 8 frames; one per test module."""
    from tanet_hf.synthetic import SyntheticMotionConfig, generate_synthetic_motion_dataset

    config = SyntheticMotionConfig(size=32, num_video_frames=8, classes=["approaching", "receding"])
    return generate_synthetic_motion_dataset(tmp_path_factory.mktemp("tiny") / "data", 8, 2, 2, seed=1, config=config)
