"""``residual-mlp``: fixed forensic features of the noise residual, the spectrum and colour, then an MLP.

Not from the founding papers. On ../shared/data a from-scratch CNN learns little from a few
thousand crops (the papers had 100k), whereas the statistics that image forensics has long
used generalise from small sets: how neighbouring pixels of the high-pass residual co-occur
(the rich-model / co-occurrence features of steganalysis and GAN-image detection) and how
energy falls off with spatial frequency (the azimuthally averaged Fourier spectrum).
Face swaps blend a smoother, resampled face into a sharper photo, and GAN images carry
their own upsampling traces; both move these statistics. GAN faces also fill colour space
differently from camera photos (fewer saturated and clipped pixels, other hue spread).

Features of a (N, 3, 224, 224) crop in [0, 1], computed on the 0-255 scale, each over three
regions of the crop: all of it, the inner face (the central half of the crop's side, which
lies inside the detector's box: eyes, nose, mouth, cheeks) and the outer ring (the eighth of
the side along each edge: hair, ears, background). A face swap or a pasted feature changes
the inner face only, so a photo whose inner and outer statistics disagree is suspect; the
whole-crop statistics catch what changes everywhere (GAN images).

- co-occurrence: for luma (channel mean) and the chroma differences R-G and B-G, the
  second-order residual along rows and along columns, divided by ``QUANT_STEP`` (2),
  rounded, truncated to [-2, 2]; the normalised histogram of three consecutive residuals
  (5^3 = 125 bins) for each of the 3 x 2 residuals, square-rooted: 750 values per region;
- the same co-occurrences of the crop averaged over 2 x 2 pixels (112 x 112), which JPEG
  re-compression and resizing disturb less than the full-size ones: 750 values per region;
- spectrum (whole crop only): the log magnitude of the luma's 2-D FFT, averaged over rings of
  equal radius from the lowest frequency out to the Nyquist frequency: 111 values;
- colour, on the 2 x 2-averaged crop: 32-bin histograms of hue, saturation, value and the
  JPEG Y, Cb and Cr channels, and the joint 8 x 8 histogram of (Cb, Cr), square-rooted:
  256 values per region.

The 5,379 features go through batch normalisation (which learns their scale), then a
two-layer MLP (256 hidden units, GELU, dropout 0.3) to one logit. Only the MLP and the
normalisation train; the features have no parameters and need no gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from forensics.models.registry import register_model

INPUT_SIZE = 224
QUANT_STEP = 2.0
TRUNCATE = 2
HIDDEN = 256
COLOUR_BINS = 32
CHROMA_BINS = 8
INNER_FACE = (0.25, 0.75)  # fraction of the crop side; the crop is the box plus 20% per side
OUTER_RING = 0.125  # fraction of the crop side along each edge

_BINS = 2 * TRUNCATE + 1


def _histograms(index: torch.Tensor, bins: int) -> torch.Tensor:
    """(N, K, L) bin indices in [0, bins) -> (N, K * bins) square-rooted normalised histograms."""
    count, length = index.shape[0] * index.shape[1], index.shape[2]
    offset = torch.arange(count, device=index.device).view(index.shape[0], index.shape[1], 1) * bins
    counts = torch.bincount((index.long() + offset).flatten(), minlength=count * bins)
    return (counts.view(index.shape[0], -1).float() / length).sqrt()


def _regions(values: torch.Tensor) -> list[torch.Tensor]:
    """(N, K, H, W) values -> (N, K, L) for the whole grid, the inner face and the outer ring.

    Regions are fractions of the grid's side, so that maps a few pixels smaller than the
    crop (residuals lose their borders) cover the same parts of the face.
    """
    height, width = values.shape[2:]
    y = ((torch.arange(height, device=values.device) + 0.5) / height).view(-1, 1)
    x = ((torch.arange(width, device=values.device) + 0.5) / width).view(1, -1)
    low, high = INNER_FACE
    inner = (y >= low) & (y < high) & (x >= low) & (x < high)
    ring = (y < OUTER_RING) | (y >= 1 - OUTER_RING) | (x < OUTER_RING) | (x >= 1 - OUTER_RING)
    flat = values.flatten(2)
    return [flat, flat[..., inner.flatten()], flat[..., ring.flatten()]]


class ResidualFeatures(nn.Module):
    """(N, 3, S, S) crops in [0, 1] -> (N, 4500 + (S // 2 - 1) + 768) residual, spectrum and colour features."""

    def __init__(self, input_size: int = INPUT_SIZE):
        super().__init__()
        side = input_size
        y, x = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
        radius = torch.hypot((y - side // 2).float(), (x - side // 2).float()).long()
        self.rings = side // 2
        radius = radius.clamp(max=self.rings)  # corners beyond Nyquist share one discarded ring
        self.register_buffer("radius", radius.flatten(), persistent=False)
        self.register_buffer("ring_size", torch.bincount(radius.flatten()).float(), persistent=False)
        self.out_features = 3 * (2 * 6 * _BINS**3 + 6 * COLOUR_BINS + CHROMA_BINS**2) + self.rings - 1

    def cooccurrence(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) on the 0-255 scale -> (N, 3 x 750) square-rooted residual co-occurrences.

        750 values (3 planes x 2 directions x 125 bins) for the whole crop, then the inner
        face, then the outer ring.
        """
        red, green, blue = pixels.unbind(1)
        planes = torch.stack((pixels.mean(1), red - green, blue - green), 1)  # (N, 3, H, W)
        regions: list[list[torch.Tensor]] = [[], [], []]
        for dim in (2, 3):  # residual down the columns, then along the rows
            residual = torch.diff(planes, n=2, dim=dim)
            code = (residual / QUANT_STEP).round_().clamp_(-TRUNCATE, TRUNCATE).add_(TRUNCATE)
            length = code.shape[dim] - 2
            triple = code.narrow(dim, 0, length) * _BINS**2 + code.narrow(dim, 1, length) * _BINS
            for found, codes in zip(regions, _regions(triple + code.narrow(dim, 2, length))):
                found.append(codes)
        # the two directions' maps differ in shape but not in how many codes each region holds
        return torch.cat([_histograms(torch.cat(codes, 1), _BINS**3) for codes in regions], 1)

    def spectrum(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) on the 0-255 scale -> (N, S // 2 - 1) ring-averaged log-magnitude spectrum."""
        luma = pixels.mean(1)
        luma = luma - luma.mean(dim=(1, 2), keepdim=True)
        magnitude = torch.fft.fftshift(torch.fft.fft2(luma), dim=(1, 2)).abs()
        log_magnitude = torch.log(magnitude + 1e-3).flatten(1)
        sums = torch.zeros(luma.shape[0], self.ring_size.numel(), device=luma.device)
        sums.index_add_(1, self.radius, log_magnitude)
        return (sums / self.ring_size)[:, 1 : self.rings]  # ring 0 is the removed mean

    def colour(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) on the 0-255 scale -> (N, 3 x 256) square-rooted colour histograms.

        32-bin histograms of hue, saturation and value and of the JPEG YCbCr channels, then
        the joint 8 x 8 histogram of (Cb, Cr): 256 values for the whole crop, then the inner
        face, then the outer ring.
        """
        red, green, blue = pixels.unbind(1)
        value = pixels.amax(1)
        chroma = value - pixels.amin(1)
        saturation = chroma / value.clamp(min=1e-6)  # black has no chroma: 0
        safe = chroma.clamp(min=1e-6)  # greys (no chroma) have red == value and hue 0
        hue = torch.where(value == red, ((green - blue) / safe) % 6,
                          torch.where(value == green, (blue - red) / safe + 2, (red - green) / safe + 4)) / 6
        luma = 0.299 * red + 0.587 * green + 0.114 * blue
        cb = 128 - 0.168736 * red - 0.331264 * green + 0.5 * blue
        cr = 128 + 0.5 * red - 0.418688 * green - 0.081312 * blue
        unit = torch.stack((hue, saturation, value / 256, luma / 256, cb / 256, cr / 256), 1)
        histograms = []
        for region in _regions(unit):
            channels = (region * COLOUR_BINS).long().clamp_(0, COLOUR_BINS - 1)
            chroma_pair = (region[:, 4:6] * CHROMA_BINS).long().clamp_(0, CHROMA_BINS - 1)
            joint = (chroma_pair[:, 0] * CHROMA_BINS + chroma_pair[:, 1]).unsqueeze(1)
            histograms += [_histograms(channels, COLOUR_BINS), _histograms(joint, CHROMA_BINS**2)]
        return torch.cat(histograms, 1)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = x.float() * 255.0
        half = nn.functional.avg_pool2d(pixels, 2)  # co-occurrences that survive re-compression and resizing
        return torch.cat([self.cooccurrence(pixels), self.cooccurrence(half), self.spectrum(pixels),
                          self.colour(half)], 1)  # colour histograms hardly change at half size, at a quarter of the cost


class ResidualMLP(nn.Module):
    """Residual co-occurrence, spectrum and colour features -> MLP; (N, 3, 224, 224) in [0, 1] -> (N,) logits."""

    def __init__(self, input_size: int = INPUT_SIZE, hidden: int = HIDDEN):
        super().__init__()
        self.features = ResidualFeatures(input_size)
        width = self.features.out_features
        self.classifier = nn.Sequential(
            nn.BatchNorm1d(width),
            nn.Dropout(0.1),
            nn.Linear(width, hidden),
            nn.GELU(),
            nn.Dropout(0.3),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Dropout(0.3),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x)).squeeze(1)


@register_model(
    "residual-mlp",
    input_size=INPUT_SIZE,
    description="Residual co-occurrences, spectrum, colour of crop, inner face and outer ring (fixed) -> MLP; 224, [0,1]",
)
def residual_mlp() -> nn.Module:
    return ResidualMLP(INPUT_SIZE)
