"""AI labels and generator traces outside C2PA: images' XMP, EXIF, IPTC and PNG text chunks;
videos' container and stream tags."""

from __future__ import annotations

import re
from typing import Any, Mapping

from forensics.media.provenance.findings import (
    MAX_TEXT_BYTES, MAX_XMP_BYTES, Findings, as_json, as_text, first_line, generator_named, shorten,
)

# ------------------------------------------------------------------ images: XMP, EXIF, IPTC, PNG text

_EXIF_SOFTWARE, _EXIF_DESCRIPTION = 0x0131, 0x010E
_EXIF_IFD, _EXIF_USER_COMMENT = 0x8769, 0x9286
_IPTC_FIELDS = {(2, 110): "IPTC Credit", (2, 65): "IPTC OriginatingProgram"}


def image_metadata(path: str, found: Findings, trust_anchors: str | None = None) -> None:
    from PIL import Image, IptcImagePlugin

    import forensics.media.image  # noqa: F401  Pillow's limits as the decoder sets them (text chunks)

    try:
        image = Image.open(path)
    except Image.DecompressionBombError:
        image = None  # the decoder says so; its metadata is not worth the risk
    except (OSError, ValueError, SyntaxError) as exc:  # not a picture Pillow opens (the decoder says why)
        if "text chunk" in str(exc).lower() or "MAX_TEXT" in str(exc):
            found.warn(f"the picture's text metadata was not read: {first_line(exc)}")
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
            found.warn(f"the EXIF metadata is damaged and was not read: {first_line(exc)}")
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


def _xmp(packet: bytes | str, where: str, found: Findings) -> None:
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
        found.warn(f"the XMP metadata is damaged and was not read: {type(exc).__name__}: {first_line(exc)}")
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


def _free_text(where: str, value: Any, found: Findings) -> None:
    """A free-text field (a description, a comment) holding Stable Diffusion WebUI's parameters.
    A generator's name in free text is not taken for a declaration: people write about them."""
    text = as_text(value, limit=MAX_TEXT_BYTES)
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


def _png_text(info: Mapping[str, Any], found: Findings) -> None:
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
        text = as_text(value, limit=MAX_TEXT_BYTES) or ""
        if lower == "parameters":
            webui = _webui_parameters(text)
            data = as_json(text)
            if webui is not None:
                found.generator("PNG parameters", "Stable Diffusion WebUI", webui)
            elif isinstance(data, dict):
                name = "SwarmUI" if "sui_image_params" in data else "Fooocus" if "fooocus" in text.lower() else \
                    "a Stable Diffusion front end"
                found.generator("PNG parameters", name, _settings(data))
        elif lower in ("prompt", "workflow") and isinstance(as_json(text), (dict, list)):
            if not any(t.startswith("PNG prompt/workflow") for t in found.provenance.traces):
                found.generator("PNG prompt/workflow", "ComfyUI", _comfy(as_json(info.get("prompt", "")) or {}))
        elif lower in ("invokeai_metadata", "invokeai_graph", "sd-metadata", "dream"):
            found.generator(f"PNG {key}", "InvokeAI", _settings(as_json(text)))
        elif lower == "fooocus_scheme":
            found.generator(f"PNG {key}", "Fooocus")
        elif lower in ("software", "source", "creator tool", "credit"):
            found.software(f"PNG {key}", text)
        elif lower == "aigc":
            _aigc(text, "PNG AIGC", found)
        elif lower in _FREE_TEXT_CHUNKS:
            data = as_json(text)
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
    return ", ".join(f"{k}: {shorten(str(v), 80)}" for k, v in found.items())


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
    return ", ".join(f"{k}: {shorten(str(v), 80)}" for k, v in shown.items())


def _aigc(value: str, where: str, found: Findings) -> None:
    """The AIGC label of GB 45438 (China's labelling of generated content): JSON whose ``Label``
    is 1 (generated), 2 (possibly generated) or 3 (suspected)."""
    data = as_json(value)
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


def video_tags(path: str, found: Findings, trust_anchors: str | None = None) -> None:
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
