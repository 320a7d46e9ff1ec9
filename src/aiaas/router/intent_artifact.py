"""The stored form of a trained intent model: one ``.npz`` archive of plain numeric arrays plus a
JSON metadata document, read back with ``allow_pickle=False`` so loading bytes from the database
can never run code."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

from aiaas.kit.errors import AppError

ARTIFACT_FORMAT = "aiaas.intent-model"
ARTIFACT_FORMAT_VERSION = 1
_META_KEY = "meta"


class InvalidIntentArtifact(AppError, ValueError):
    """Bytes that are not an intent model this version of the platform can read."""

    status, code, title = 422, "invalid_intent_artifact", "Invalid intent model artifact"


def pack(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """``meta`` (JSON-serialisable) and the named arrays as one compressed archive."""
    document = {"format": ARTIFACT_FORMAT, "format_version": ARTIFACT_FORMAT_VERSION, **meta}
    encoded = json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf-8")
    payload = {_META_KEY: np.frombuffer(encoded, dtype=np.uint8), **arrays}
    for name, array in payload.items():
        if array.dtype == object:
            raise TypeError(f"array {name!r} holds Python objects; only numeric arrays are stored")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **payload)  # type: ignore[arg-type]
    return buffer.getvalue()


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metadata and arrays of an archive made by :func:`pack`."""
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise InvalidIntentArtifact("the artifact is empty")
    try:
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise InvalidIntentArtifact(f"the artifact is not a readable archive: {exc}") from exc
    raw = arrays.pop(_META_KEY, None)
    if raw is None or raw.dtype != np.uint8:
        raise InvalidIntentArtifact("the artifact has no metadata")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidIntentArtifact("the artifact's metadata is not JSON") from exc
    if not isinstance(meta, dict) or meta.get("format") != ARTIFACT_FORMAT:
        raise InvalidIntentArtifact("the artifact is not an intent model")
    if meta.get("format_version") != ARTIFACT_FORMAT_VERSION:
        raise InvalidIntentArtifact(
            f"intent model format version {meta.get('format_version')!r} is not supported"
            f" (this platform reads version {ARTIFACT_FORMAT_VERSION})"
        )
    return meta, arrays
