"""tanet_hf: TANet (Temporal Adaptive Module, ICCV 2021) for Hugging Face transformers.

Importing the package registers `TANetConfig`, `TANetModel` and `TANetForVideoClassification` with
`AutoConfig`, `AutoModel` and `AutoModelForVideoClassification`, and `TANetVideoProcessor` with `AutoVideoProcessor`
(all also saved as remote code), and installs the fused CPU operators of `tanet_hf.kernels` on the model's
`relu → TAM` units (not part of the remote code; the library is built on the first CPU forward that uses it,
and `TANET_HF_CPU_KERNEL=0` keeps the pure PyTorch path). There is no image processor: TANet's input is a
clip, and the video processor takes lists of frames too.
"""

from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification, AutoVideoProcessor

from .configuration_tanet import TANetConfig
from .kernels import install as _install_kernels
from .modeling_tanet import (
    TANetForVideoClassification,
    TANetModel,
    TANetModelOutput,
    TANetPreTrainedModel,
    TANetRectifiedTAM,
    TANetTemporalAdaptiveModule,
    TANetVideoClassifierOutput,
)
from .video_decoding_tanet import VideoDecodeError, decode_video_frames
from .video_processing_tanet import TANetVideoProcessor, sample_frame_indices

__version__ = "0.1.0"

AutoConfig.register(TANetConfig.model_type, TANetConfig, exist_ok=True)
AutoModel.register(TANetConfig, TANetModel, exist_ok=True)
AutoModelForVideoClassification.register(TANetConfig, TANetForVideoClassification, exist_ok=True)
AutoVideoProcessor.register(TANetConfig, TANetVideoProcessor, exist_ok=True)
TANetVideoProcessor.register_for_auto_class()
_install_kernels()

__all__ = [
    "TANetConfig",
    "TANetModel",
    "TANetForVideoClassification",
    "TANetPreTrainedModel",
    "TANetTemporalAdaptiveModule",
    "TANetRectifiedTAM",
    "TANetModelOutput",
    "TANetVideoClassifierOutput",
    "TANetVideoProcessor",
    "VideoDecodeError",
    "decode_video_frames",
    "sample_frame_indices",
]
