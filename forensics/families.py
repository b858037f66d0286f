"""The detector catalogue: the families of manipulation a detector can be for, what each one's
firing says about a face, and the kinds of media a suite member may judge.

A suite (``weights/suite.json``, :class:`forensics.score.SuiteScorer`) has one detector per
family; the report has a ``score_<family>`` column for each family here, per media, per face
and per track. Adding a family starts here (docs/design.md, "Where to add").
"""

from __future__ import annotations

FAMILIES: dict[str, str] = {
    "blend": "blending traces",
    "synthesis": "generation traces",
    "animation": "re-rendering traces",
}
"""The families of manipulation a detector can be for, and what its firing says about a face:
``blend`` (a face pasted into a real frame: face swaps, lip-sync, pasted-back talking heads),
``synthesis`` (a face generated whole: GAN and diffusion faces) and ``animation`` (a face
re-rendered over time by a video generator: talking heads, portrait animation, reenactment,
lip-sync, live face swaps; learnt from many such generators' videos)."""

KINDS: tuple[str, ...] = ("image", "video")
"""The kinds of media a suite member may be for (a video detector need not judge stills)."""


PROVENANCE_FAMILY = "provenance"
"""The ``family`` of a ``fake`` verdict that the media's own provenance made: it declares itself
generated or edited with generative AI (Content Credentials, an IPTC DigitalSourceType, a
generator's traces: :mod:`forensics.media.provenance`), whatever its face scores say."""

VERDICT_FAMILIES: dict[str, str] = {**FAMILIES, PROVENANCE_FAMILY: "declared AI-generated"}
"""Every ``family`` a ``fake`` verdict can name, and what it means (the detectors' families and
the media's own declaration)."""
