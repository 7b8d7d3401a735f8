"""tanet_hf: TANet (Temporal Adaptive Module, ICCV 2021) for Hugging Face transformers.

Importing the package registers `TANetConfig`, `TANetModel` and `TANetForVideoClassification` with
`AutoConfig`, `AutoModel` and `AutoModelForVideoClassification`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

from .configuration_tanet import TANetConfig
from .modeling_tanet import (
    TANetForVideoClassification,
    TANetModel,
    TANetModelOutput,
    TANetPreTrainedModel,
    TANetTemporalAdaptiveModule,
    TANetVideoClassifierOutput,
)

__version__ = "0.1.0"

AutoConfig.register(TANetConfig.model_type, TANetConfig, exist_ok=True)
AutoModel.register(TANetConfig, TANetModel, exist_ok=True)
AutoModelForVideoClassification.register(TANetConfig, TANetForVideoClassification, exist_ok=True)

__all__ = [
    "TANetConfig",
    "TANetModel",
    "TANetForVideoClassification",
    "TANetPreTrainedModel",
    "TANetTemporalAdaptiveModule",
    "TANetModelOutput",
    "TANetVideoClassifierOutput",
]
