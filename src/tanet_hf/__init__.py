"""tanet_hf: TANet (Temporal Adaptive Module, ICCV 2021) for Hugging Face transformers.

Importing the package registers `TANetConfig`, `TANetModel` and `TANetForVideoClassification` with
`AutoConfig`, `AutoModel` and `AutoModelForVideoClassification`, and `TANetVideoProcessor` with `AutoVideoProcessor`
(all also saved as remote code). There is no image processor: TANet's input is a clip, and the video processor
takes lists of frames too.
"""

from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification, AutoVideoProcessor

from .configuration_tanet import TANetConfig
from .modeling_tanet import (
    TANetForVideoClassification,
    TANetModel,
    TANetModelOutput,
    TANetPreTrainedModel,
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

__all__ = [
    "TANetConfig",
    "TANetModel",
    "TANetForVideoClassification",
    "TANetPreTrainedModel",
    "TANetTemporalAdaptiveModule",
    "TANetModelOutput",
    "TANetVideoClassifierOutput",
    "TANetVideoProcessor",
    "VideoDecodeError",
    "decode_video_frames",
    "sample_frame_indices",
]
