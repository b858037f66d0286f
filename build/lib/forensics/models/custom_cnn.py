"""The founding paper's custom CNN, exactly as published.

Input 224x224x3 scaled to [0, 1]; four blocks of convolution + ReLU + batch normalisation
+ max-pooling (8 filters 3x3 / pool 2; 8 filters 5x5 / pool 2; 16 filters 5x5 / pool 2;
16 filters 5x5 / pool 4); flatten; dense 1024 + ReLU; dropout 0.5; dense 16 + ReLU;
dense 1. The final sigmoid is applied by the scorer (the module returns the logit).
"""

from __future__ import annotations

from torch import nn

from forensics.models.registry import register_model


def _block(in_channels: int, out_channels: int, kernel: int, pool: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding="same"),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(out_channels),
        nn.MaxPool2d(pool),
    )


class CustomCNN(nn.Module):
    """Four conv blocks and a small dense head; (N, 3, 224, 224) in [0, 1] -> (N,) logits."""

    def __init__(self, input_size: int = 224):
        super().__init__()
        self.features = nn.Sequential(
            _block(3, 8, 3, 2),
            _block(8, 8, 5, 2),
            _block(8, 16, 5, 2),
            _block(16, 16, 5, 4),
        )
        side = input_size // 2 // 2 // 2 // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 1024),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(1024, 16),
            nn.ReLU(inplace=True),
            nn.Linear(16, 1),
        )

    def forward(self, x):
        return self.classifier(self.features(x)).squeeze(1)


@register_model(
    "custom-cnn",
    input_size=224,
    description="The founding paper's CNN: 4 conv blocks (8-8-16-16 filters), dense 1024-16-1, 224x224, [0,1] input",
)
def custom_cnn() -> nn.Module:
    return CustomCNN(224)
