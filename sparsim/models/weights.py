"""Weight files: read a 2-D weight array from ``.npy`` or ``.safetensors``.

The safetensors reader is a few lines of NumPy (the format is an 8-byte little-endian
header length, a JSON header mapping each tensor to dtype, shape and byte offsets, then
raw bytes), so pruning real checkpoints needs neither torch nor the safetensors package.

>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "w.npy")
>>> np.save(path, np.eye(3, dtype=np.float32))
>>> load_weights(path).shape
(3, 3)
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from ..errors import SparsimError

__all__ = ["load_weights", "list_tensors"]

# safetensors dtype -> (little-endian numpy type, name). BF16 is read as its raw 16 bits.
_SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}
_FORMAT_HINT = ("a safetensors file (8-byte little-endian header length, JSON header "
                "{name: {dtype, shape, data_offsets}}, then the data)")
_EXTENSIONS = (".npy", ".safetensors")


def _weights_error(path, problem: str, allowed: str) -> SparsimError:
    problem = " ".join(str(problem).split())  # one line, whatever the cause said
    return SparsimError(f"weights file {path}: {problem}; allowed: {allowed}")


def _open_checked(path) -> str:
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in _EXTENSIONS:
        raise _weights_error(path, f"unknown extension {ext or '(none)'!r}", ", ".join(_EXTENSIONS))
    if not os.path.isfile(path):
        raise _weights_error(path, "no such file", f"an existing {' or '.join(_EXTENSIONS)} file")
    return ext


def _safetensors_header(path) -> tuple[dict, int]:
    """The tensor entries of a safetensors file (name -> dtype, shape, offsets) and the
    byte offset where the data starts. Every offset is checked against the file size."""
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise _weights_error(path, f"only {size} bytes, too short for a header", _FORMAT_HINT)
            header_len = int.from_bytes(head, "little")
            if header_len > size - 8:
                raise _weights_error(
                    path, f"header length {header_len} exceeds the {size - 8} bytes after it", _FORMAT_HINT)
            header = json.loads(f.read(header_len).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _weights_error(path, f"unreadable header ({exc})", _FORMAT_HINT) from None
    if not isinstance(header, dict):
        raise _weights_error(path, "header is not a JSON object", _FORMAT_HINT)
    data_start, data_size = 8 + header_len, size - 8 - header_len
    entries = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            shape = tuple(int(d) for d in shape)
            begin, end = int(begin), int(end)
        except (TypeError, KeyError, ValueError):
            raise _weights_error(path, f"tensor {name!r} has a malformed entry", _FORMAT_HINT) from None
        if dtype not in _SAFETENSORS_DTYPES:
            raise _weights_error(path, f"tensor {name!r} has dtype {dtype!r}",
                                 ", ".join(_SAFETENSORS_DTYPES))
        expected = math.prod(shape) * np.dtype(_SAFETENSORS_DTYPES[dtype]).itemsize
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= data_size or end - begin != expected:
            raise _weights_error(
                path, f"tensor {name!r} ({dtype}, shape {shape}) has data_offsets [{begin}, {end}] "
                f"but needs {expected} bytes within the {data_size} data bytes", _FORMAT_HINT)
        entries[name] = {"dtype": dtype, "shape": shape, "begin": begin}
    return entries, data_start


def list_tensors(path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape in a weights file (a .npy file holds one, named by its stem)."""
    ext = _open_checked(path)
    if ext == ".npy":
        return {os.path.splitext(os.path.basename(path))[0]: _load_npy(path, mmap=True).shape}
    entries, _ = _safetensors_header(path)
    return {name: entry["shape"] for name, entry in entries.items()}


_NPY_ALLOWED = "a .npy file of one numeric array, written by numpy.save"


def _load_npy(path, mmap: bool = False) -> np.ndarray:
    # The header is read first: numpy's own errors for an object (pickled) array advise
    # allow_pickle=True, which would run code from the file; we say what the file is instead.
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            _, _, dtype = reader(f)
    except (OSError, ValueError, EOFError, SyntaxError, TypeError):
        raise _weights_error(path, "not a .npy file (its header is not numpy's)", _NPY_ALLOWED) from None
    if dtype.hasobject or not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise _weights_error(path, f"not a numeric .npy array (it holds {dtype.str!r} elements: Python objects "
                             "or records, which sparsim does not load)", _NPY_ALLOWED)
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError) as exc:
        raise _weights_error(path, f"not a readable .npy file ({exc})", _NPY_ALLOWED) from None


def _as_float(array: np.ndarray) -> np.ndarray:
    return array if array.dtype == np.float64 else array.astype(np.float32)


def _names_allowed(names: list[str]) -> str:
    shown = ", ".join(names[:20])
    return shown + (f", ... ({len(names) - 20} more)" if len(names) > 20 else "") if names else "none"


def load_weights(path, name: str | None = None) -> np.ndarray:
    """A 2-D weight matrix (float32, or float64 if stored so) from .npy or .safetensors.

    ``name`` picks a tensor of a safetensors file; without it the file must hold exactly
    one 2-D tensor. BF16 is widened exactly to float32 (its 16 bits are the top half of a
    float32).
    """
    ext = _open_checked(path)
    if ext == ".npy":
        stem = os.path.splitext(os.path.basename(path))[0]
        if name is not None and name != stem:
            raise _weights_error(path, f"no tensor named {name!r}", f"{stem!r} or no name")
        array = _load_npy(path)
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
            raise _weights_error(path, f"holds a {array.dtype} array of shape {array.shape}",
                                 "a 2-D numeric array")
        return _as_float(array)

    entries, data_start = _safetensors_header(path)
    two_d = [n for n, e in entries.items() if len(e["shape"]) == 2]
    if name is None:
        if len(two_d) != 1:
            raise _weights_error(path, f"holds {len(two_d)} 2-D tensors, pick one by name",
                                 _names_allowed(two_d))
        name = two_d[0]
    if name not in entries:
        raise _weights_error(path, f"no tensor named {name!r}", _names_allowed(two_d))
    entry = entries[name]
    if len(entry["shape"]) != 2:
        raise _weights_error(path, f"tensor {name!r} has shape {entry['shape']}",
                             f"a 2-D tensor: {_names_allowed(two_d)}")
    dtype = np.dtype(_SAFETENSORS_DTYPES[entry["dtype"]])
    try:
        raw = np.fromfile(path, dtype=dtype, count=math.prod(entry["shape"]),
                          offset=data_start + entry["begin"])
    except (OSError, ValueError) as exc:
        raise _weights_error(path, f"could not read tensor {name!r} ({exc})", _FORMAT_HINT) from None
    if entry["dtype"] == "BF16":
        raw = (raw.astype(np.uint32) << 16).view(np.float32)
    return _as_float(raw.reshape(entry["shape"]))
