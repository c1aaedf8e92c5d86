"""Read and replace the key/value metadata of an ONNX model (one place for export and the merge)."""

from __future__ import annotations

import onnx


def read_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def set_metadata(model: onnx.ModelProto, metadata: dict[str, str]) -> None:
    """Replace all metadata entries with `metadata`, in its order."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
