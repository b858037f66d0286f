"""Media that declare their origin, made by the tests: signed with real Content Credentials and
a test certificate chain, labelled in XMP, written by a Stable Diffusion front end, and damaged.

The chain is made here with the ``cryptography`` package: a root CA and an end-entity
certificate as C2PA requires one (ES256 on P-256, ``digitalSignature`` key usage, the
``emailProtection`` extended key usage, not a CA, subject and authority key identifiers). Files
are signed with c2pa-python's ``Builder``, as a generator or a camera signs them. Nothing here
is trusted by anyone: the root is a test's own.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
VALIDITY = dt.timedelta(days=100 * 365)  # the committed sample must verify for as long as it is kept


@dataclass(frozen=True)
class TestChain:
    """A root CA and a signing certificate it issued, as PEM."""

    root_pem: bytes  # the trust anchor (--trust-anchors)
    chain_pem: bytes  # the signing certificate, then the root: what a signer embeds
    key_pem: bytes  # the signing certificate's private key (PKCS#8)
    signer_name: str
    organisation: str

    def signer(self):
        import c2pa

        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, self.chain_pem, self.key_pem, None)  # no TSA: offline
        return c2pa.Signer.from_info(info)


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])


def _key_usage(signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signing, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not signing,
                         crl_sign=not signing, encipher_only=False, decipher_only=False)


def make_test_chain(organisation: str = "Forensics Test Generator", signer_name: str = "Test Signer") -> TestChain:
    """A fresh root CA (``<organisation> Test Root``) and an end-entity certificate it signed."""
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{organisation} Test Root", organisation)
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(signing=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(_name(signer_name, organisation)).issuer_name(root_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signing=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return TestChain(root.public_bytes(pem), leaf.public_bytes(pem) + root.public_bytes(pem),
                     key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
                     signer_name, organisation)


MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".mp4": "video/mp4", ".webp": "image/webp",
        ".tif": "image/tiff", ".avif": "image/avif"}


def sign(source: Path, out: Path, chain: TestChain, source_type: str, tool: str = "Test Image Generator",
         version: str = "1.0", parent: Path | None = None, padding_bytes: int = 0) -> Path:
    """``source`` with Content Credentials, written to ``out``: a ``c2pa.created`` action of
    ``source_type`` (an IPTC code, e.g. ``trainedAlgorithmicMedia``) by ``tool``, or, with a
    ``parent``, a ``c2pa.edited`` action over that parent ingredient. ``padding_bytes`` adds a
    claim thumbnail of that size (a huge manifest)."""
    import c2pa

    mime = MIME[source.suffix.lower()]
    action = {"action": "c2pa.edited" if parent else "c2pa.created", "digitalSourceType": SOURCE_TYPES + source_type,
              "softwareAgent": {"name": tool, "version": version}}
    manifest = {"claim_generator_info": [{"name": tool, "version": version}], "title": out.name,
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}]}
    if padding_bytes:
        manifest["thumbnail"] = {"format": "image/jpeg", "identifier": "padding.jpg"}
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    with c2pa.Builder(manifest, context=context) as builder, open(source, "rb") as src, open(out, "w+b") as dst:
        if parent is not None:
            builder.set_intent(c2pa.C2paBuilderIntent.EDIT)  # adds c2pa.opened over the parent
            with open(parent, "rb") as ingredient:
                builder.add_ingredient({"title": parent.name, "relationship": "parentOf"}, MIME[parent.suffix], ingredient)
        if padding_bytes:
            builder.add_resource("padding.jpg", io.BytesIO(b"\xff\xd8\xff" + bytes(padding_bytes)))
        with chain.signer() as signer:
            builder.sign(signer, mime, src, dst)
    return out


def sign_remote(source: Path, out: Path, chain: TestChain, url: str) -> Path:
    """``source`` signed with its manifest kept at ``url`` (only a reference in the file's XMP)."""
    import c2pa

    manifest = {"claim_generator_info": [{"name": "Test Image Generator", "version": "1.0"}], "title": out.name,
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": SOURCE_TYPES + "trainedAlgorithmicMedia"}]}}]}
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    with c2pa.Builder(manifest, context=context) as builder, open(source, "rb") as src, open(out, "w+b") as dst:
        builder.set_no_embed()
        builder.set_remote_url(url)
        with chain.signer() as signer:
            builder.sign(signer, MIME[source.suffix.lower()], src, dst)
    return out


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, whole chunk: length, type, data, CRC) of each chunk of a PNG, in order."""
    chunks, at = [], 8
    while at < len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        chunks.append((data[at + 4:at + 8], data[at:at + 12 + length]))
        at += 12 + length
    return chunks


def change_pixels(signed_png: Path, out: Path, image) -> Path:
    """A signed PNG whose pixels were replaced by ``image`` (same size) after signing, its
    Content Credentials (the caBX chunk) and every other chunk kept: an edit the manifest's
    hash no longer matches. The picture still decodes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    pixels = b"".join(chunk for kind, chunk in _png_chunks(buffer.getvalue()) if kind == b"IDAT")
    data = signed_png.read_bytes()
    kept, replaced = [], False
    for kind, chunk in _png_chunks(data):
        if kind != b"IDAT":
            kept.append(chunk)
        elif not replaced:
            kept.append(pixels)
            replaced = True
    out.write_bytes(data[:8] + b"".join(kept))
    return out


def truncate_manifest(signed_jpeg: Path, out: Path) -> Path:
    """A signed JPEG whose manifest (its APP11 segment) is cut to half its length; the pixels are intact."""
    data = signed_jpeg.read_bytes()
    at = data.find(b"\xff\xeb")
    length = struct.unpack(">H", data[at + 2:at + 4])[0]
    kept = (length - 2) // 2
    out.write_bytes(data[:at] + b"\xff\xeb" + struct.pack(">H", kept + 2) + data[at + 4:at + 4 + kept]
                    + data[at + 2 + length:])
    return out


def manifest_box_in_wrong_type(signed_mp4: Path, jpeg: Path, out: Path) -> Path:
    """A JPEG with an MP4's C2PA ``uuid`` box after its end: a manifest where JPEG keeps none."""
    data = signed_mp4.read_bytes()
    at = data.find(b"uuid") - 4
    size = struct.unpack(">I", data[at:at + 4])[0]
    out.write_bytes(jpeg.read_bytes() + data[at:at + size])
    return out


def xmp_packet(source_type: str | None = None, creator_tool: str | None = None, credit: str | None = None) -> bytes:
    """An XMP packet as Adobe and IPTC write it: the IPTC DigitalSourceType, CreatorTool, Credit."""
    fields = []
    if source_type:
        fields.append(f"<Iptc4xmpExt:DigitalSourceType>{SOURCE_TYPES}{source_type}</Iptc4xmpExt:DigitalSourceType>")
    if creator_tool:
        fields.append(f"<xmp:CreatorTool>{creator_tool}</xmp:CreatorTool>")
    if credit:
        fields.append(f"<photoshop:Credit>{credit}</photoshop:Credit>")
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
            'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">'
            + "".join(fields) + '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


WEBUI_PARAMETERS = ("portrait of an astronaut, studio light, highly detailed\n"
                    "Negative prompt: blurry, lowres\n"
                    "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567890, Size: 512x512, "
                    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.7.0")
"""Stable Diffusion WebUI's ``parameters`` text, as it writes it into every PNG it saves."""

COMFYUI_PROMPT = ('{"3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20, "sampler_name": "euler"}}, '
                  '"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}}}')


def write_png(path: Path, image, text: dict[str, str] | None = None, xmp: bytes | str | None = None) -> Path:
    """An RGB ``image`` as a PNG with ``text`` chunks (tEXt) and an XMP packet (iTXt), through Pillow."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    if xmp is not None:
        info.add_itxt("XML:com.adobe.xmp", xmp.decode() if isinstance(xmp, bytes) else xmp)
    Image.fromarray(image).save(path, pnginfo=info)
    return path


def write_jpeg(path: Path, image, xmp: bytes | None = None, software: str | None = None) -> Path:
    """An RGB ``image`` as a JPEG with an XMP packet (APP1) and an EXIF Software tag, through Pillow."""
    from PIL import Image

    extra = {}
    if software:
        exif = Image.Exif()
        exif[0x0131] = software
        extra["exif"] = exif
    if xmp:
        extra["xmp"] = xmp
    Image.fromarray(image).save(path, quality=92, **extra)
    return path


def retag_video(source: Path, out: Path, container: dict[str, str], stream: dict[str, str] | None = None) -> Path:
    """``source``'s video stream copied (not re-encoded) into ``out`` with these container and
    stream tags, through PyAV, as an encoder or an editor writes them."""
    import av

    with av.open(str(source)) as given, av.open(str(out), "w") as written:
        written.metadata.update(container)
        video = given.streams.video[0]
        copy = written.add_stream_from_template(video)
        copy.metadata.update(stream or {})
        for packet in given.demux(video):
            if packet.dts is None:
                continue
            packet.stream = copy
            written.mux(packet)
    return out
