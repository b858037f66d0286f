"""Content Credentials (C2PA) manifests, read with the Content Authenticity Initiative's own
library (``c2pa-python``), offline: claim generator, signer, signing time, actions and their
IPTC ``digitalSourceType``, ingredients, and the validation result."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Mapping

from forensics.media.provenance.findings import (
    MAX_LISTED, MAX_MANIFEST_BYTES, Findings, as_text, first_line, shorten,
)

# the C2PA manifest store's JUMBF description box: its type (the C2PA UUID) in every container
_C2PA_STORE_SIGNATURE = b"jumd" + bytes.fromhex("6332706100110010800000aa00389b71")

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


def content_credentials(path: str, found: Findings, trust_anchors: str | None) -> None:
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
        message = first_line(exc)
        remote = re.search(r"(?:from url|remote URI) \"?(\S+?)\"?(?:\s|$)", message)
        if message.startswith("Remote") and remote:
            found.c2pa_line = f"C2PA: the manifest is kept at {remote.group(1)} (not fetched)"
            found.trace("C2PA remote manifest", remote.group(1))
        elif "NotSupported" in type(exc).__name__ or message.startswith("NotSupported"):
            pass  # a format the C2PA library does not read (BMP, MKV...): nothing to say
        else:
            found.warn(f"content credentials could not be read (damaged or truncated manifest): {shorten(message)}")
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


def _describe_manifest(store: Mapping[str, Any], certificates: Mapping[str, Any], found: Findings) -> None:
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
            found.warn(f"content credentials are invalid: {shorten(str(first.get('explanation') or first.get('code')))}")
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
        agent = as_text(action.get("softwareAgent"))
        if len(p.actions) < MAX_LISTED:
            p.actions.append(shorten(name + (f" ({code})" if code else "") + (f" by {agent}" if agent else "")))
        verbs.append(name)
        if code:
            codes.append(code)
    for ingredient in (active.get("ingredients") or [])[:MAX_LISTED]:
        if isinstance(ingredient, dict):
            p.ingredients.append(shorten(f"{ingredient.get('title') or '?'} ({ingredient.get('relationship', 'ingredient')})"))
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
    line += f", signed by {shorten(str(named), 80)}, {trust}"
    found.c2pa_line = line


def _claim_generator(manifest: Mapping[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        name, version = str(info[0]["name"]), info[0].get("version")
        return shorten(f"{name} {version}" if version else name)
    return as_text(manifest.get("claim_generator"))


def _signer(signature: Mapping[str, Any], certificate: Mapping[str, Any]) -> str | None:
    """``CN=..., O=... (issued by CN=..., O=...)`` from the certificate, else what signature_info names."""
    def name(parts: Any) -> str:
        if not isinstance(parts, dict):
            return ""
        return ", ".join(f"{k}={v}" for k, v in parts.items() if k in ("CN", "O", "OU", "C") and v)

    subject, issuer = name(certificate.get("subject")), name(certificate.get("issuer"))
    if subject:
        return shorten(subject + (f" (issued by {issuer})" if issuer else ""))
    named = ", ".join(str(v) for v in (signature.get("common_name"), signature.get("issuer")) if v)
    return shorten(named) if named else None


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
