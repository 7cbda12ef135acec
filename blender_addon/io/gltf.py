"""Read back a written glTF/GLB's morph-target weight animation (the check after Export glTF). No ``bpy``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CafeTalkError


def _gltf_parts(path: str) -> tuple[dict[str, Any], bytes]:
    data = Path(path).read_bytes()
    if data[:4] == b"glTF":                       # GLB: header, JSON chunk, BIN chunk
        n = int.from_bytes(data[12:16], "little")
        doc = json.loads(data[20:20 + n])
        rest = data[20 + n:]
        blob = rest[8:8 + int.from_bytes(rest[:4], "little")] if len(rest) >= 8 else b""
        return doc, blob
    doc = json.loads(data)
    uri = doc["buffers"][0]["uri"]
    return doc, (Path(path).parent / uri).read_bytes()


def read_gltf_weights(path: str) -> dict[str, Any]:
    """The morph-target weight animation of a written glTF/GLB: ``{"target_names", "times",
    "weights" (keyframes, targets), "keyframes"}`` of its first ``weights`` channel."""
    doc, blob = _gltf_parts(path)

    def accessor(i: int) -> np.ndarray:
        acc = doc["accessors"][i]
        view = doc["bufferViews"][acc["bufferView"]]
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc["type"]]
        return np.frombuffer(blob, dtype="<f4", count=acc["count"] * width, offset=start)

    for anim in doc.get("animations", []):
        for ch in anim["channels"]:
            if ch["target"].get("path") == "weights":
                sampler = anim["samplers"][ch["sampler"]]
                mesh = doc["meshes"][doc["nodes"][ch["target"]["node"]]["mesh"]]
                names = mesh.get("extras", {}).get("targetNames", [])
                times = accessor(sampler["input"])
                weights = accessor(sampler["output"]).reshape(len(times), -1)
                return {"target_names": names, "times": times, "weights": weights, "keyframes": len(times)}
    raise CafeTalkError(f"{path}: no morph-target weights animation in the file")
