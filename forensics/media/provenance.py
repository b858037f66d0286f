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

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

PROVENANCE_STATUSES: tuple[str, ...] = ("none", "valid", "untrusted", "invalid")
"""``provenance_status``: ``none`` (no manifest in the file), ``valid`` (signature and hashes
good, signer chains to a trust anchor), ``untrusted`` (good, signer not in the trust anchors),
``invalid`` (a signature or a hash fails: the file changed after signing)."""

MAX_MANIFEST_BYTES = 16 << 20
"""A C2PA manifest store larger than this (bytes; 16 MiB, many times a large real one with
ingredient thumbnails) is not read: a warning says so."""

MAX_XMP_BYTES = 4 << 20
"""An XMP packet larger than this (bytes, 4 MiB) is not parsed: a warning says so."""

MAX_TEXT_BYTES = 1 << 20
"""A generator's text (a PNG chunk, a video tag) larger than this (bytes, 1 MiB) is not parsed."""

MAX_LISTED = 20  # actions, ingredients and traces kept per media
MAX_SHOWN = 200  # characters kept of one value (a tool name, a setting) in the report; twice that of a trace

IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
"""The IPTC Digital Source Type vocabulary; C2PA actions and XMP name a value by this URL + code."""

AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})
"""Source types that declare the media generated, or edited, with generative AI."""

NOT_AI_SOURCE_TYPES = frozenset({
    "digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm", "print", "screenCapture",
    "humanEdits", "minorHumanEdits", "compositeCapture", "digitalArt", "digitalCreation",
    "algorithmicallyEnhanced", "algorithmicMedia", "dataDrivenMedia", "virtualRecording", "compositeSynthetic",
})
"""Source types that declare another origin: a capture of real life (camera, scan, screen),
human work, or algorithms that are not generative models (IPTC keeps generative AI to the two
``trained`` codes; ``compositeSynthetic`` is a composite whose synthetic part is not AI)."""

KNOWN_GENERATORS: tuple[tuple[str, str], ...] = (
    ("Stable Diffusion", r"stable[ -]?diffusion|\bsdxl\b|stability ai|dreamstudio"),
    ("Stable Diffusion WebUI", r"automatic1111|stable-diffusion-webui|\bsd\.next\b|\bforge\b webui"),
    ("ComfyUI", r"comfy ?ui"),
    ("InvokeAI", r"invoke ?ai"),
    ("NovelAI", r"novel ?ai"),
    ("Fooocus", r"fooocus"),
    ("Midjourney", r"midjourney"),
    ("DALL-E", r"\bdall[·\-. ]?e\b"),
    ("ChatGPT", r"\bchatgpt\b|\bgpt-4o\b|\bgpt-image"),
    ("Adobe Firefly", r"\bfirefly\b"),
    ("Google Imagen", r"\bimagen\b"),
    ("Google AI", r"made with google ai|\bgemini\b"),
    ("Google Veo", r"\bgoogle veo\b|\bveo ?[23]\b"),
    ("Meta AI", r"\bmeta ai\b|imagine with meta|\bemu video\b"),
    ("Bing Image Creator", r"bing image creator|microsoft designer"),
    ("Leonardo.Ai", r"leonardo\.? ?ai"),
    ("Ideogram", r"\bideogram\b"),
    ("FLUX", r"\bflux\.1\b|black forest labs"),
    ("Grok", r"\bgrok\b"),
    ("Runway", r"\brunway ?ml\b|\brunway gen|\bgen-[234] alpha\b"),
    ("Sora", r"\bopenai sora\b|\bsora\b"),
    ("Pika", r"\bpika ?(labs|art)\b"),
    ("Kling", r"\bkling ?ai\b|\bkling\b"),
    ("Luma Dream Machine", r"dream machine|\bluma ai\b|lumalabs"),
    ("Hailuo", r"\bhailuo\b|\bminimax\b"),
    ("Synthesia", r"\bsynthesia\b"),
    ("HeyGen", r"\bheygen\b"),
    ("DeepFaceLab", r"deepfacelab"),
    ("FaceFusion", r"facefusion"),
    ("Draw Things", r"draw things"),
    ("DiffusionBee", r"diffusionbee"),
)
"""Generative tools by name, and the pattern (case-insensitive) that finds them in a tool,
software or tag field. A field naming one declares the media made or edited with it."""

_GENERATOR_PATTERNS = [(name, re.compile(pattern, re.IGNORECASE)) for name, pattern in KNOWN_GENERATORS]

# the C2PA manifest store's JUMBF description box: its type (the C2PA UUID) in every container
_C2PA_STORE_SIGNATURE = b"jumd" + bytes.fromhex("6332706100110010800000aa00389b71")


_COLUMNS = {"provenance_status": "status", "provenance_ai": "ai", "provenance": "summary",
            "provenance_tool": "tool", "provenance_signer": "signer", "provenance_signed_at": "signed_at",
            "provenance_actions": "actions", "provenance_ingredients": "ingredients",
            "provenance_traces": "traces"}  # report column -> Provenance attribute


@dataclass
class Provenance:
    """What one media declares about its origin (the report's ``provenance_*`` columns).

    Attributes:
        status: one of :data:`PROVENANCE_STATUSES` (``none`` without a readable manifest).
        ai: True when the media declares itself generated or edited with generative AI (C2PA
            action source types, IPTC/XMP DigitalSourceType, generator chunks or tags), False
            when it declares another origin (e.g. a camera capture), None when it says nothing.
        summary: one human-readable line (``provenance``), None when the file says nothing.
        tool: the tool the file names as its maker: the C2PA claim generator, else a generator
            a trace names, else the XMP ``CreatorTool`` or EXIF ``Software``.
        signer: the C2PA signing certificate's subject and its issuer.
        signed_at: the C2PA signing time (ISO 8601; only with a timestamp authority's token).
        actions: the active manifest's actions, e.g. ``c2pa.created (trainedAlgorithmicMedia) by X``.
        ingredients: what the active manifest says the media was made from (title and relationship).
        traces: AI labels and generator traces outside C2PA, each ``where: what``.
        warnings: damaged, truncated or oversized records (the media row's ``warnings``).
    """

    status: str = "none"
    ai: bool | None = None
    summary: str | None = None
    tool: str | None = None
    signer: str | None = None
    signed_at: str | None = None
    actions: list[str] = field(default_factory=list)
    ingredients: list[str] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def columns(self) -> dict[str, Any]:
        """The media row's provenance columns (the warnings go to its ``warnings``)."""
        return {column: (list(v) if isinstance(v := getattr(self, attr), list) else v)
                for column, attr in _COLUMNS.items()}

    @classmethod
    def pop_columns(cls, row: dict[str, Any]) -> "Provenance":
        """The provenance of a media row, its columns removed from ``row`` (a row of a report
        without them gives ``none``)."""
        values = {attr: row.pop(column) for column, attr in _COLUMNS.items() if column in row}
        for attr in ("status", "actions", "ingredients", "traces"):  # null in a row: the default
            if values.get(attr) is None:
                values.pop(attr, None)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_trust_anchors(path: str | None) -> str | None:
    """The PEM text of ``--trust-anchors``: the root (or intermediate) certificates a C2PA signer
    must chain to for ``valid``; None without a file.

    Raises:
        ValueError: the file cannot be read or holds no PEM certificate.
    """
    if path is None:
        return None
    from cryptography import x509

    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as exc:
        raise ValueError(f"--trust-anchors {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        certificates = []
    if not certificates:
        raise ValueError(f"--trust-anchors {path}: no PEM certificate in it (give the anchors' certificates, "
                         "-----BEGIN CERTIFICATE----- ...)")
    return pem.decode("ascii", "replace")


def trust_anchors_sha256(pem: str | None) -> str | None:
    """sha256 (hex) of the trust anchors' PEM text, as the report's metadata records them; None without."""
    import hashlib

    return None if pem is None else hashlib.sha256(pem.encode()).hexdigest()


class _Findings:
    """What the readers found, gathered before it becomes a :class:`Provenance`."""

    def __init__(self) -> None:
        self.provenance = Provenance()
        self.declared: list[tuple[bool, str]] = []  # (generative AI?, what said so)
        self.c2pa_line: str | None = None
        self.tools: list[tuple[int, str]] = []  # (rank: 0 claim generator, 1 generator, 2 software), name

    def source_type(self, value: Any, where: str) -> str | None:
        """Record a DigitalSourceType value; its short code, None when it is not one."""
        if not isinstance(value, str) or not value.strip():
            return None
        code = value.strip().rsplit("/", 1)[-1]
        if code in AI_SOURCE_TYPES:
            self.declared.append((True, f"{where} {code}"))
        elif code in NOT_AI_SOURCE_TYPES:
            self.declared.append((False, f"{where} {code}"))
        elif code == "empty":
            return None
        return code

    def trace(self, where: str, what: str) -> None:
        if len(self.provenance.traces) < MAX_LISTED:
            self.provenance.traces.append(f"{where}: {_short(what, 2 * MAX_SHOWN)}")

    def software(self, where: str, value: Any) -> None:
        """A tool, software or credit field: a trace, and an AI declaration when it names a generator."""
        text = _text(value)
        if not text:
            return
        self.trace(where, text)
        generator = generator_named(text)
        if generator is not None:
            self.declared.append((True, f"{where} names {generator}"))
            self.tools.append((1, text))
        else:
            self.tools.append((2, text))

    def generator(self, where: str, name: str, details: str = "") -> None:
        """A generator's own record (a front end's text chunk, an AIGC label)."""
        self.trace(where, f"{name}{' (' + details + ')' if details else ''}")
        self.declared.append((True, f"{where} ({name})"))
        self.tools.append((1, name))

    def warn(self, text: str) -> None:
        if text not in self.provenance.warnings:
            self.provenance.warnings.append(text)

    def result(self) -> Provenance:
        p = self.provenance
        if any(ai for ai, _ in self.declared):
            p.ai = True
        elif self.declared:
            p.ai = False
        if self.tools:
            p.tool = _short(sorted(self.tools, key=lambda t: t[0])[0][1])
        parts = [self.c2pa_line] if self.c2pa_line else []
        if p.ai is not None:
            others = [what for ai, what in self.declared if ai == p.ai and not what.startswith("C2PA")]
            if others:
                verb = "declares generative AI" if p.ai else "declares"
                parts.append(f"{verb}: {'; '.join(dict.fromkeys(others))}")
        p.summary = _short(" | ".join(parts), 600) if parts else None
        return p


def read_provenance(path: str, kind: str, trust_anchors: str | None = None) -> Provenance:
    """What the media at ``path`` declares about its origin: C2PA, AI labels, generator traces.

    Args:
        path: a local file.
        kind: ``image`` or ``video`` (which metadata to read besides C2PA).
        trust_anchors: PEM certificates a C2PA signer must chain to for ``valid``
            (:func:`load_trust_anchors`); None: every well-formed manifest is ``untrusted``.

    Never raises: what cannot be read is a warning in ``Provenance.warnings``.
    """
    found = _Findings()
    for reader in (_content_credentials, _image_metadata if kind == "image" else _video_tags):
        try:
            reader(path, found, trust_anchors)
        except MemoryError:
            found.warn("provenance not read: out of memory reading the file's metadata")
        except Exception as exc:  # a library's failure on a hostile file: this media's warning
            found.warn(f"provenance not fully read: {type(exc).__name__}: {_first_line(exc)}")
    return found.result()


# ------------------------------------------------------------------ Content Credentials (C2PA)

_contexts: dict[str | None, Any] = {}


def _context(trust_anchors: str | None) -> Any:
    """A c2pa reading context that never touches the network, trusting only ``trust_anchors``."""
    if trust_anchors not in _contexts:
        import c2pa

        settings: dict[str, Any] = {
            "core": {"allowed_network_hosts": []},  # nothing fetched: no remote manifest, no OCSP
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False,
                       # without anchors the SDK's own list must not make a signer trusted
                       "verify_trust": trust_anchors is not None},
        }
        if trust_anchors is not None:
            settings["trust"] = {"trust_anchors": trust_anchors}  # replaces the SDK's anchors
        _contexts[trust_anchors] = c2pa.Context.from_dict(settings)
    return _contexts[trust_anchors]


def manifest_store_size(path: str, block: int = 4 << 20) -> int | None:
    """Bytes of the C2PA manifest store embedded in the file, from its JUMBF header (the same
    box in a JPEG's APP11 segments, a PNG's caBX chunk, an MP4's uuid box, a WebP's C2PA
    chunk); None when the file holds none. Reads the file once, ``block`` bytes at a time."""
    overlap = len(_C2PA_STORE_SIGNATURE) + 16
    with open(path, "rb") as f:
        tail = b""
        while chunk := f.read(block):
            data = tail + chunk
            at = data.find(_C2PA_STORE_SIGNATURE)
            if at >= 0:
                # the superbox before it: LBox (4 bytes) "jumb", or LBox = 1 "jumb" XLBox (8 bytes)
                head = data[max(0, at - 20):at]
                if head[-8:-4] == b"jumb":
                    return int.from_bytes(head[-12:-8], "big") if len(head) >= 12 else None
                if len(head) >= 20 and head[-16:-12] == b"jumb" and int.from_bytes(head[-20:-16], "big") == 1:
                    return int.from_bytes(head[-12:-4], "big")
                return None
            tail = data[-overlap:]  # a signature cut by the block boundary is found in the next
    return None


def _content_credentials(path: str, found: _Findings, trust_anchors: str | None) -> None:
    import c2pa

    size = manifest_store_size(path)  # None: no embedded store (the library still finds a remote one)
    if size is not None and size > MAX_MANIFEST_BYTES:
        found.warn(f"content credentials not read: the manifest store is {size / (1 << 20):.0f} MiB, over the "
                   f"{MAX_MANIFEST_BYTES >> 20} MiB read")
        found.provenance.status = "none"
        found.c2pa_line = f"C2PA: a {size / (1 << 20):.0f} MiB manifest store, not read (too large)"
        return
    try:
        with open(path, "rb") as stream:
            reader = c2pa.Reader.try_create(stream, context=_context(trust_anchors))
            if reader is None:
                if size is not None:  # a store where this format keeps none: pasted in, or misplaced
                    found.warn(f"a C2PA manifest store ({size} bytes) is in the file where its format keeps none: "
                               "not read")
                return
            with reader:
                store = json.loads(reader.json())
                certificates = _certificates(reader)
    except c2pa.C2paError as exc:
        message = _first_line(exc)
        remote = re.search(r"(?:from url|remote URI) \"?(\S+?)\"?(?:\s|$)", message)
        if message.startswith("Remote") and remote:
            found.c2pa_line = f"C2PA: the manifest is kept at {remote.group(1)} (not fetched)"
            found.trace("C2PA remote manifest", remote.group(1))
        elif "NotSupported" in type(exc).__name__ or message.startswith("NotSupported"):
            pass  # a format the C2PA library does not read (BMP, MKV...): nothing to say
        else:
            found.warn(f"content credentials could not be read (damaged or truncated manifest): {_short(message)}")
        return
    _describe_manifest(store, certificates, found)


def _certificates(reader: Any) -> dict[str, dict[str, Any]]:
    """Each manifest's signing certificate (subject, issuer) by label, from the crJSON report."""
    try:
        report = json.loads(reader.crjson())
    except Exception:  # an older library, or a report it cannot make: signature_info is enough
        return {}
    return {m.get("label"): (m.get("signature") or {}).get("certificateInfo") or {}
            for m in report.get("manifests", []) if isinstance(m, dict)}


def _describe_manifest(store: Mapping[str, Any], certificates: Mapping[str, Any], found: _Findings) -> None:
    p = found.provenance
    manifests = store.get("manifests") or {}
    label = store.get("active_manifest")
    active = manifests.get(label) if isinstance(manifests, dict) else None
    if not isinstance(active, dict):
        found.warn("content credentials could not be read: the manifest store has no active manifest")
        return
    state = store.get("validation_state")
    failures = [f for f in ((store.get("validation_results") or {}).get("activeManifest") or {}).get("failure", [])
                if isinstance(f, dict) and f.get("code") != "signingCredential.untrusted"]
    if state == "Trusted":
        p.status, trust = "valid", "signer trusted"
    elif state == "Invalid" or failures:
        p.status = "invalid"
        tampered = [f for f in failures if "mismatch" in str(f.get("code")).lower()]
        if tampered:
            trust = "does not match the file: edited after signing"
            found.warn(f"content credentials do not match the file: edited after signing ({tampered[0].get('code')})")
        else:
            first = failures[0] if failures else {}
            trust = f"invalid ({first.get('code', 'validation failed')})"
            found.warn(f"content credentials are invalid: {_short(str(first.get('explanation') or first.get('code')))}")
    else:
        p.status, trust = "untrusted", "signer not trusted"

    generator = _claim_generator(active)
    signature = active.get("signature_info") or {}
    p.signer = _signer(signature, certificates.get(label) or {})
    p.signed_at = signature.get("time")
    if generator:
        found.tools.append((0, generator))

    verbs, codes = [], []
    for action in _actions(active):
        name = str(action.get("action", "?"))
        code = found.source_type(action.get("digitalSourceType"), "C2PA") if "digitalSourceType" in action else None
        agent = _text(action.get("softwareAgent"))
        if len(p.actions) < MAX_LISTED:
            p.actions.append(_short(name + (f" ({code})" if code else "") + (f" by {agent}" if agent else "")))
        verbs.append(name)
        if code:
            codes.append(code)
    for ingredient in (active.get("ingredients") or [])[:MAX_LISTED]:
        if isinstance(ingredient, dict):
            p.ingredients.append(_short(f"{ingredient.get('title') or '?'} ({ingredient.get('relationship', 'ingredient')})"))
    # the history: what the ingredients' own manifests declared, and IPTC metadata assertions
    for manifest in _manifests_behind(active, manifests):
        assertions = [a for a in manifest.get("assertions") or [] if not (
            manifest is active and isinstance(a, dict) and str(a.get("label", "")).startswith("c2pa.actions"))]
        for key, value in _walk(assertions):
            if key.lower().endswith("digitalsourcetype"):
                code = found.source_type(value, "C2PA")
                if code:
                    codes.append(code if manifest is active else f"{code} in an ingredient")
    made = "created" if "c2pa.created" in verbs else "edited" if verbs else "signed"
    line = f"C2PA: {made}{' with ' + generator if generator else ''}"
    if codes:
        line += f" ({', '.join(dict.fromkeys(codes))})"
    # the line names the signer as C2PA verifiers do ("issued by" the certificate's organisation)
    named = signature.get("issuer") or signature.get("common_name") or p.signer or "an unnamed signer"
    line += f", signed by {_short(str(named), 80)}, {trust}"
    found.c2pa_line = line


def _claim_generator(manifest: Mapping[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        name, version = str(info[0]["name"]), info[0].get("version")
        return _short(f"{name} {version}" if version else name)
    return _text(manifest.get("claim_generator"))


def _signer(signature: Mapping[str, Any], certificate: Mapping[str, Any]) -> str | None:
    """``CN=..., O=... (issued by CN=..., O=...)`` from the certificate, else what signature_info names."""
    def name(parts: Any) -> str:
        if not isinstance(parts, dict):
            return ""
        return ", ".join(f"{k}={v}" for k, v in parts.items() if k in ("CN", "O", "OU", "C") and v)

    subject, issuer = name(certificate.get("subject")), name(certificate.get("issuer"))
    if subject:
        return _short(subject + (f" (issued by {issuer})" if issuer else ""))
    named = ", ".join(str(v) for v in (signature.get("common_name"), signature.get("issuer")) if v)
    return _short(named) if named else None


def _actions(manifest: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for assertion in manifest.get("assertions") or []:
        if isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                if isinstance(action, dict):
                    yield action


def _manifests_behind(active: dict[str, Any], manifests: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The active manifest and those of its ingredients, theirs and so on (each once)."""
    seen, order, todo = set(), [], [active]
    while todo and len(order) < 100:
        manifest = todo.pop(0)
        if id(manifest) in seen:
            continue
        seen.add(id(manifest))
        order.append(manifest)
        for ingredient in manifest.get("ingredients") or []:
            behind = manifests.get(ingredient.get("active_manifest")) if isinstance(ingredient, dict) else None
            if isinstance(behind, dict):
                todo.append(behind)
    return order


def _walk(value: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in nested JSON, to a bounded depth."""
    if depth > 12:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key), inner
            yield from _walk(inner, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner, depth + 1)


# ------------------------------------------------------------------ images: XMP, EXIF, IPTC, PNG text

_EXIF_SOFTWARE, _EXIF_DESCRIPTION = 0x0131, 0x010E
_EXIF_IFD, _EXIF_USER_COMMENT = 0x8769, 0x9286
_IPTC_FIELDS = {(2, 110): "IPTC Credit", (2, 65): "IPTC OriginatingProgram"}


def _image_metadata(path: str, found: _Findings, trust_anchors: str | None = None) -> None:
    from PIL import Image, IptcImagePlugin

    from forensics.media import decode  # noqa: F401  Pillow's limits as the decoder sets them (text chunks)

    try:
        image = Image.open(path)
    except Image.DecompressionBombError:
        image = None  # the decoder says so; its metadata is not worth the risk
    except (OSError, ValueError, SyntaxError) as exc:  # not a picture Pillow opens (the decoder says why)
        if "text chunk" in str(exc).lower() or "MAX_TEXT" in str(exc):
            found.warn(f"the picture's text metadata was not read: {_first_line(exc)}")
        return
    if image is None:
        return
    with image:
        info = image.info
        xmp = info.get("xmp")
        if xmp:
            _xmp(xmp, "XMP", found)
        try:
            exif = image.getexif()
        except Exception as exc:
            found.warn(f"the EXIF metadata is damaged and was not read: {_first_line(exc)}")
            exif = {}
        if _EXIF_SOFTWARE in exif:
            found.software("EXIF Software", exif[_EXIF_SOFTWARE])
        if _EXIF_DESCRIPTION in exif:
            _free_text("EXIF ImageDescription", exif[_EXIF_DESCRIPTION], found)
        try:
            comment = exif.get_ifd(_EXIF_IFD).get(_EXIF_USER_COMMENT) if exif else None
        except Exception:
            comment = None
        if comment is not None:
            _free_text("EXIF UserComment", _user_comment(comment), found)
        if image.format in ("JPEG", "TIFF"):
            try:
                iptc = IptcImagePlugin.getiptcinfo(image) or {}
            except Exception:
                iptc = {}
            for key, where in _IPTC_FIELDS.items():
                if key in iptc:
                    found.software(where, iptc[key])
        if image.format == "PNG":
            _png_text(info, found)


def _xmp(packet: bytes | str, where: str, found: _Findings) -> None:
    """Source type, tools and labels of an XMP packet."""
    size = len(packet)
    if size > MAX_XMP_BYTES:
        found.warn(f"an XMP packet of {size / (1 << 20):.0f} MiB was not read (over the {MAX_XMP_BYTES >> 20} MiB read)")
        return
    from defusedxml import ElementTree

    data = packet.encode("utf-8", "replace") if isinstance(packet, str) else packet
    try:
        root = ElementTree.fromstring(data.strip(b"\x00 \t\r\n"))
    except Exception as exc:  # ParseError, or defusedxml refusing entities: junk, or hostile
        found.warn(f"the XMP metadata is damaged and was not read: {type(exc).__name__}: {_first_line(exc)}")
        return
    for element in root.iter():
        fields = [(_local(element.tag), element.text)]
        fields += [(_local(k), v) for k, v in element.attrib.items()]
        for name, value in fields:
            value = (value or "").strip()
            if name == "resource" and _local(element.tag) == "DigitalSourceType":
                name = "DigitalSourceType"
            if not value:
                continue
            if name == "DigitalSourceType":
                code = found.source_type(value, f"{where} DigitalSourceType")
                if code:
                    found.trace(f"{where} DigitalSourceType", code)
            elif name in ("CreatorTool", "Software", "Credit"):
                found.software(f"{where} {name}", value)
            elif name == "provenance" and value.startswith("http") and value not in (found.c2pa_line or ""):
                found.trace(f"{where} dcterms:provenance (a remote C2PA manifest)", value)
            elif name == "AIGC":
                _aigc(value, f"{where} AIGC", found)


def _local(name: str) -> str:
    """An XML name without its namespace (``{ns}local`` -> ``local``)."""
    return name.rsplit("}", 1)[-1] if isinstance(name, str) else ""


def _user_comment(value: Any) -> str:
    """An EXIF UserComment as text: its 8-byte character code (``ASCII``, ``UNICODE``), then the text."""
    if not isinstance(value, bytes):
        return str(value)
    code, text = value[:8], value[8:]
    if code.startswith(b"UNICODE"):
        # Stable Diffusion WebUI writes UTF-16 big-endian; a BOM or the byte order says otherwise
        encoding = "utf-16" if text[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-16-be"
        return text.decode(encoding, "replace")
    return text.decode("utf-8", "replace") if code.strip(b"\x00 ") in (b"ASCII", b"") else value.decode("latin-1")


def _free_text(where: str, value: Any, found: _Findings) -> None:
    """A free-text field (a description, a comment) holding Stable Diffusion WebUI's parameters.
    A generator's name in free text is not taken for a declaration: people write about them."""
    text = _text(value, limit=MAX_TEXT_BYTES)
    webui = _webui_parameters(text) if text else None
    if webui is not None:
        found.generator(where, "Stable Diffusion WebUI", webui)


def _webui_parameters(text: str) -> str | None:
    """The settings of Stable Diffusion WebUI's ``parameters`` text (prompt, ``Negative prompt:``,
    then ``Steps: 20, Sampler: Euler a, ... Model hash: ...``); None when ``text`` is not one."""
    lines = text.strip().splitlines()
    if not lines or "Steps: " not in lines[-1] or "Sampler: " not in lines[-1]:
        return None
    settings = dict(re.findall(r"(?:^|, )([A-Za-z][\w ]*?): (\"[^\"]*\"|[^,]*)", lines[-1]))
    shown = [f"{k}: {settings[k]}" for k in ("Model", "Model hash", "Sampler", "Steps", "Seed", "Version") if k in settings]
    prompt = lines[0] if not lines[0].startswith(("Steps: ", "Negative prompt:")) else ""
    return ", ".join(shown + ([f"prompt: {prompt}"] if prompt else []))


_GENERATOR_CHUNKS = frozenset({"parameters", "prompt", "workflow", "invokeai_metadata", "invokeai_graph",
                               "sd-metadata", "dream", "fooocus_scheme", "aigc"})
"""PNG text keywords that only generator front ends write (their text is parsed)."""
_TOOL_CHUNKS = frozenset({"software", "source", "creator tool", "credit"})
_FREE_TEXT_CHUNKS = frozenset({"comment", "description"})  # searched for a generator's settings


def _png_text(info: Mapping[str, Any], found: _Findings) -> None:
    """Text chunks (tEXt, zTXt, iTXt) of image generator front ends."""
    for key, value in info.items():
        lower = key.lower() if isinstance(key, str) else ""
        if not isinstance(value, (str, bytes)) or lower not in _GENERATOR_CHUNKS | _TOOL_CHUNKS | _FREE_TEXT_CHUNKS:
            continue
        if len(value) > MAX_TEXT_BYTES:
            if lower not in _FREE_TEXT_CHUNKS:  # a long comment is a comment; a long generator record is suspect
                found.warn(f"the PNG text chunk {key!r} is {len(value) / (1 << 20):.0f} MiB: not read "
                           f"(over the {MAX_TEXT_BYTES >> 20} MiB read)")
            continue
        text = _text(value, limit=MAX_TEXT_BYTES) or ""
        if lower == "parameters":
            webui = _webui_parameters(text)
            data = _json(text)
            if webui is not None:
                found.generator("PNG parameters", "Stable Diffusion WebUI", webui)
            elif isinstance(data, dict):
                name = "SwarmUI" if "sui_image_params" in data else "Fooocus" if "fooocus" in text.lower() else \
                    "a Stable Diffusion front end"
                found.generator("PNG parameters", name, _settings(data))
        elif lower in ("prompt", "workflow") and isinstance(_json(text), (dict, list)):
            if not any(t.startswith("PNG prompt/workflow") for t in found.provenance.traces):
                found.generator("PNG prompt/workflow", "ComfyUI", _comfy(_json(info.get("prompt", "")) or {}))
        elif lower in ("invokeai_metadata", "invokeai_graph", "sd-metadata", "dream"):
            found.generator(f"PNG {key}", "InvokeAI", _settings(_json(text)))
        elif lower == "fooocus_scheme":
            found.generator(f"PNG {key}", "Fooocus")
        elif lower in ("software", "source", "creator tool", "credit"):
            found.software(f"PNG {key}", text)
        elif lower == "aigc":
            _aigc(text, "PNG AIGC", found)
        elif lower in _FREE_TEXT_CHUNKS:
            data = _json(text)
            if isinstance(data, dict) and {"steps", "sampler"} <= set(data):  # NovelAI's settings
                found.generator(f"PNG {key}", "NovelAI" if "NovelAI" in str(info.get("Software", "")) else
                                "a Stable Diffusion front end", _settings(data))
            else:
                _free_text(f"PNG {key}", text, found)


def _settings(data: Any) -> str:
    """Model, sampler, steps and seed from a generator's JSON settings, as far as it names them."""
    if not isinstance(data, dict):
        return ""
    wanted = ("model", "base_model", "Model", "sampler", "sampler_name", "scheduler", "steps", "seed", "prompt")
    found = {k: data[k] for k in wanted if k in data and isinstance(data[k], (str, int, float))}
    return ", ".join(f"{k}: {_short(str(v), 80)}" for k, v in found.items())


def _comfy(graph: Any) -> str:
    """The checkpoint, sampler, steps and seed of a ComfyUI ``prompt`` graph (node id -> node)."""
    if not isinstance(graph, dict):
        return ""
    shown: dict[str, Any] = {}
    for node in graph.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        for key in ("ckpt_name", "unet_name", "sampler_name", "steps", "seed", "noise_seed"):
            if key in inputs and isinstance(inputs[key], (str, int, float)) and key not in shown:
                shown[key] = inputs[key]
    return ", ".join(f"{k}: {_short(str(v), 80)}" for k, v in shown.items())


def _aigc(value: str, where: str, found: _Findings) -> None:
    """The AIGC label of GB 45438 (China's labelling of generated content): JSON whose ``Label``
    is 1 (generated), 2 (possibly generated) or 3 (suspected)."""
    data = _json(value)
    label = data.get("Label") if isinstance(data, dict) else None
    producer = data.get("ContentProducer") if isinstance(data, dict) else None
    if str(label) in ("1", "2", "3"):
        found.generator(where, "an AIGC label", f"Label {label}{', producer ' + str(producer) if producer else ''}")
    else:
        found.trace(where, value)


# ------------------------------------------------------------------ videos: container and stream tags

_VIDEO_TOOL_TAGS = ("encoder", "encoded_by", "software", "com.apple.quicktime.software", "creation_tool",
                    "writing_application")
"""Tags that name the tool that wrote the video: listed as traces, a generator's name declares AI."""
_VIDEO_NOTE_TAGS = ("comment", "description", "synopsis", "handler_name", "vendor_id", "copyright")
"""Tags where tools leave a note ("Generated with ..."): a generator's name there declares AI; titles
and artists (people's words) are not read."""


def _video_tags(path: str, found: _Findings, trust_anchors: str | None = None) -> None:
    import av

    try:
        container = av.open(path, options={"export_xmp": "1"}, metadata_errors="ignore")
    except Exception:  # the decoder reports an unreadable container; nothing to add here
        return
    with container:
        tags = [("container", dict(container.metadata))]
        tags += [(f"stream {s.index}", dict(s.metadata)) for s in container.streams]
    for scope, values in tags:
        for key, value in values.items():
            lower = key.lower()
            if not isinstance(value, str) or not value.strip():
                continue
            if lower == "xmp":
                _xmp(value, "XMP", found)
                continue
            if len(value) > MAX_TEXT_BYTES:
                found.warn(f"the video tag {key!r} is {len(value) / (1 << 20):.0f} MiB: not read")
                continue
            where = f"video {scope} tag {key}"
            if lower == "aigc":
                _aigc(value, where, found)
            elif lower in _VIDEO_TOOL_TAGS or (lower in _VIDEO_NOTE_TAGS and generator_named(value) is not None):
                found.software(where, value)


# ------------------------------------------------------------------ small helpers


def generator_named(text: str) -> str | None:
    """The known generator (:data:`KNOWN_GENERATORS`) that ``text`` names, or None."""
    for name, pattern in _GENERATOR_PATTERNS:
        if pattern.search(text):
            return name
    return None


def _text(value: Any, limit: int = MAX_SHOWN * 4) -> str | None:
    """A metadata value as stripped text (bytes decoded, a tool's ``{name, version}`` joined);
    None when empty or longer than ``limit`` characters."""
    if isinstance(value, dict):
        value = " ".join(str(value[k]) for k in ("name", "version") if value.get(k))
    elif isinstance(value, (list, tuple)):
        value = " ".join(_text(v) or "" for v in value[:4])
    elif isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif value is None:
        return None
    text = str(value).strip().strip("\x00").strip()
    return text if text and len(text) <= limit else None


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text and text.lstrip()[:1] in ("{", "[") else None
    except ValueError:
        return None


def _short(text: str, limit: int = MAX_SHOWN) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return _short(lines[0], 300) if lines else type(exc).__name__

