"""What the provenance readers find, and the vocabulary they find it in: the report's
:class:`Provenance`, the IPTC source types and known generators, the size caps, and the
trust anchors a C2PA signer must chain to."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any
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


class Findings:
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
            self.provenance.traces.append(f"{where}: {shorten(what, 2 * MAX_SHOWN)}")

    def software(self, where: str, value: Any) -> None:
        """A tool, software or credit field: a trace, and an AI declaration when it names a generator."""
        text = as_text(value)
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
            p.tool = shorten(sorted(self.tools, key=lambda t: t[0])[0][1])
        parts = [self.c2pa_line] if self.c2pa_line else []
        if p.ai is not None:
            others = [what for ai, what in self.declared if ai == p.ai and not what.startswith("C2PA")]
            if others:
                verb = "declares generative AI" if p.ai else "declares"
                parts.append(f"{verb}: {'; '.join(dict.fromkeys(others))}")
        p.summary = shorten(" | ".join(parts), 600) if parts else None
        return p


def generator_named(text: str) -> str | None:
    """The known generator (:data:`KNOWN_GENERATORS`) that ``text`` names, or None."""
    for name, pattern in _GENERATOR_PATTERNS:
        if pattern.search(text):
            return name
    return None


def as_text(value: Any, limit: int = MAX_SHOWN * 4) -> str | None:
    """A metadata value as stripped text (bytes decoded, a tool's ``{name, version}`` joined);
    None when empty or longer than ``limit`` characters."""
    if isinstance(value, dict):
        value = " ".join(str(value[k]) for k in ("name", "version") if value.get(k))
    elif isinstance(value, (list, tuple)):
        value = " ".join(as_text(v) or "" for v in value[:4])
    elif isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif value is None:
        return None
    text = str(value).strip().strip("\x00").strip()
    return text if text and len(text) <= limit else None


def as_json(text: str) -> Any:
    try:
        return json.loads(text) if text and text.lstrip()[:1] in ("{", "[") else None
    except ValueError:
        return None


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return shorten(lines[0], 300) if lines else type(exc).__name__
