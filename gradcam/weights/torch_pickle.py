"""Read a legacy (pre-zip) ``torch.save`` state dict into numpy arrays, without torch.

The legacy format is a sequence of pickles: magic number, protocol version, system info, the
state dict (tensors refer to storages by persistent id), the list of storage keys; then, for each
key in that order, an int64 element count and the raw little-endian bytes. A pickle can run code,
so the unpickler only resolves the few globals a state dict needs and refuses everything else.
"""

import collections
import pickle
import struct
from dataclasses import dataclass

import numpy as np

from gradcam.errors import UserError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple
    stride: tuple


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_requires_grad_hooks_metadata):
    return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, *_requires_grad_and_hooks):
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only state-dict globals; records each storage a tensor refers to."""

    def __init__(self, file, path, storages):
        super().__init__(file)
        self._path = path
        self._storages = storages

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UserError(
                f"refusing pickle global {module}.{name} in {self._path}: only "
                "state-dict globals are allowed"
            ) from None

    def persistent_load(self, pid):
        if not (
            isinstance(pid, tuple)
            and len(pid) == 6
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
            and isinstance(pid[2], str)
            and isinstance(pid[4], int)
            and pid[4] >= 0
            and pid[5] is None
        ):
            raise UserError(f"unsupported persistent id {pid!r} in {self._path}")
        ref = _StorageRef(pid[2], pid[1].dtype, pid[4])
        if self._storages.setdefault(ref.key, ref) != ref:
            raise UserError(f"storage {ref.key} is declared twice differently in {self._path}")
        return ref


def _load_pickle(file, path, storages):
    try:
        return _StateDictUnpickler(file, path, storages).load()
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError) as err:
        raise UserError(f"{path} is not a valid legacy torch state dict: {err}") from None


def _read_storage(file, ref, path):
    header = file.read(8)
    if len(header) != 8:
        raise UserError(f"{path} is truncated before storage {ref.key}")
    (count,) = struct.unpack("<q", header)
    if count != ref.numel:
        raise UserError(f"storage {ref.key} in {path} holds {count} elements, declared {ref.numel}")
    data = file.read(count * ref.dtype.itemsize)
    if len(data) != count * ref.dtype.itemsize:
        raise UserError(f"{path} is truncated inside storage {ref.key}")
    return np.frombuffer(data, dtype=ref.dtype)


def _tensor_to_array(name, tensor, storages, path):
    storage = storages[tensor.storage.key]
    size, stride, offset = tensor.size, tensor.stride, tensor.offset
    valid = (
        isinstance(offset, int)
        and len(size) == len(stride)
        and offset >= 0
        and all(isinstance(v, int) and v >= 0 for v in size + stride)
    )
    if valid and 0 not in size:
        valid = offset + sum((n - 1) * s for n, s in zip(size, stride)) < storage.size
    if not valid:
        raise UserError(
            f"tensor {name} in {path} (offset {offset}, size {size}, stride {stride}) "
            f"does not fit its storage of {storage.size} elements"
        )
    if 0 in size:
        return np.zeros(size, storage.dtype.newbyteorder("="))
    strides = tuple(s * storage.itemsize for s in stride)
    view = np.lib.stride_tricks.as_strided(storage[offset:], size, strides, writeable=False)
    return np.array(view, dtype=storage.dtype.newbyteorder("="), order="C")


def load_state_dict(path):
    """Return ``{name: np.ndarray}`` from a legacy-format ``torch.save`` state dict file."""
    storages = {}
    with open(path, "rb") as file:
        if _load_pickle(file, path, storages) != MAGIC_NUMBER:
            raise UserError(f"{path} is not a legacy torch file (bad magic number)")
        if _load_pickle(file, path, storages) != PROTOCOL_VERSION:
            raise UserError(f"{path} uses an unsupported torch protocol version")
        sys_info = _load_pickle(file, path, storages)
        if not (isinstance(sys_info, dict) and sys_info.get("little_endian")):
            raise UserError(f"{path} was not written on a little-endian machine")
        state_dict = _load_pickle(file, path, storages)
        keys = _load_pickle(file, path, storages)
        if not isinstance(state_dict, dict) or not isinstance(keys, list):
            raise UserError(f"{path} does not hold a state dict")
        if sorted(keys) != sorted(storages):
            raise UserError(f"{path}: the storage key list does not match the tensors' storages")
        arrays = {key: _read_storage(file, storages[key], path) for key in keys}
    result = {}
    for name, tensor in state_dict.items():
        if not isinstance(tensor, _TensorRef):
            raise UserError(f"entry {name!r} in {path} is not a tensor")
        result[name] = _tensor_to_array(name, tensor, arrays, path)
    return result
