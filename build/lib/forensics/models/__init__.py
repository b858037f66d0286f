"""Model registry, architectures and weights with their model cards."""

from forensics.models.registry import (
    ModelSpec,
    build_model,
    get_model_spec,
    list_models,
    register_model,
)

# importing the architecture modules registers them
from forensics.models import custom_cnn  # noqa: E402,F401  isort: skip
from forensics.models import simple_cnn  # noqa: E402,F401  isort: skip
from forensics.models import compact_cnn  # noqa: E402,F401  isort: skip
from forensics.models import residual_mlp  # noqa: E402,F401  isort: skip
from forensics.models import resnet  # noqa: E402,F401  isort: skip
from forensics.models import densenet  # noqa: E402,F401  isort: skip
from forensics.models import efficientnet  # noqa: E402,F401  isort: skip
from forensics.models import inception  # noqa: E402,F401  isort: skip
from forensics.models import efficientnet_lite  # noqa: E402,F401  isort: skip

__all__ = ["ModelSpec", "build_model", "get_model_spec", "list_models", "register_model"]
