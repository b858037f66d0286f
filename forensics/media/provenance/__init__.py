"""What a media file says about itself: its Content Credentials, AI labels and generator traces.

The pixels are the detectors' business; this module reads what the file declares, offline:

- **Content Credentials** (C2PA manifests), with the Content Authenticity Initiative's own
  library (``c2pa-python``): the active manifest's claim generator, signer, signing time,
  actions and their IPTC ``digitalSourceType``, ingredients, and the validation result
  (signature and hashes; whether the signer chains to a trust anchor the user gave). Nothing
  is fetched: a manifest kept at a remote URL is named, not downloaded.
- **AI labels without C2PA**: the IPTC ``DigitalSourceType`` in XMP, read with Pillow (images)
  or PyAV (videos) and parsed with defusedxml; the Chinese AIGC label (GB 45438) where a file
  carries it.
- **Generator traces**: text chunks of image generator front ends (Stable Diffusion WebUI's
  ``parameters``, ComfyUI's ``prompt``/``workflow``, InvokeAI, NovelAI, Fooocus), EXIF and XMP
  ``Software`` / ``CreatorTool`` / ``Credit`` naming a known generator, video container and
  stream tags (encoder, handler, comment...) naming one.

:func:`read_provenance` never raises: a damaged, truncated or oversized record is a warning of
the media, and the rest of the file is still read. It runs in the decoding worker process
(:mod:`forensics.media.worker`), where a reader that crashes or hangs costs only the warning.
What is read is capped: a manifest store over :data:`MAX_MANIFEST_BYTES`, an XMP packet over
:data:`MAX_XMP_BYTES` or a generator's text over :data:`MAX_TEXT_BYTES` is skipped with a warning.
"""

from __future__ import annotations

from forensics.media.provenance.c2pa import content_credentials, manifest_store_size
from forensics.media.provenance.findings import (
    AI_SOURCE_TYPES, IPTC_SOURCE_TYPES, KNOWN_GENERATORS, MAX_MANIFEST_BYTES, MAX_TEXT_BYTES, MAX_XMP_BYTES,
    NOT_AI_SOURCE_TYPES, PROVENANCE_STATUSES, Provenance, Findings, first_line, generator_named, load_trust_anchors,
    trust_anchors_sha256,
)
from forensics.media.provenance.metadata import image_metadata, video_tags

__all__ = ["AI_SOURCE_TYPES", "IPTC_SOURCE_TYPES", "KNOWN_GENERATORS", "MAX_MANIFEST_BYTES", "MAX_TEXT_BYTES",
           "MAX_XMP_BYTES", "NOT_AI_SOURCE_TYPES", "PROVENANCE_STATUSES", "Provenance", "generator_named",
           "load_trust_anchors", "manifest_store_size", "read_provenance", "trust_anchors_sha256"]


def read_provenance(path: str, kind: str, trust_anchors: str | None = None) -> Provenance:
    """What the media at ``path`` declares about its origin: C2PA, AI labels, generator traces.

    Args:
        path: a local file.
        kind: ``image`` or ``video`` (which metadata to read besides C2PA).
        trust_anchors: PEM certificates a C2PA signer must chain to for ``valid``
            (:func:`load_trust_anchors`); None: every well-formed manifest is ``untrusted``.

    Never raises: what cannot be read is a warning in ``Provenance.warnings``.
    """
    found = Findings()
    for reader in (content_credentials, image_metadata if kind == "image" else video_tags):
        try:
            reader(path, found, trust_anchors)
        except MemoryError:
            found.warn("provenance not read: out of memory reading the file's metadata")
        except Exception as exc:  # a library's failure on a hostile file: this media's warning
            found.warn(f"provenance not fully read: {type(exc).__name__}: {first_line(exc)}")
    return found.result()
