"""The torch-free reader of legacy ``torch.save`` state dicts, on files written by hand here."""

import builtins
import collections
import os
import pickle
import struct

import numpy as np
import pytest

from gradcam.errors import UserError
from gradcam.weights.torch_pickle import MAGIC_NUMBER, PROTOCOL_VERSION, load_state_dict

STORAGE_TYPES = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage"}


class _TorchGlobal:
    """Stands for a torch global in the pickle we write (torch itself is never imported)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):
        raise AssertionError("only ever pickled")


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce__(self):
        return (
            _TorchGlobal("torch._utils", "_rebuild_tensor_v2"),
            (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()),
        )


class _LegacyPickler(pickle._Pickler):
    """Writes torch globals as GLOBAL opcodes and storages as persistent ids, like torch.save."""

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            storage_type = _TorchGlobal("torch", STORAGE_TYPES[obj.array.dtype])
            return ("storage", storage_type, obj.key, "cpu", obj.array.size, None)
        return None

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _TorchGlobal):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        else:
            super().save(obj, save_persistent_id)


def _write_legacy(path, state_dict, storages, declared_counts=None):
    """Write ``state_dict`` ({name: _Tensor}) and ``storages`` ({key: array}) in the legacy format."""
    declared_counts = declared_counts or {}
    with open(path, "wb") as file:
        for header in (
            MAGIC_NUMBER,
            PROTOCOL_VERSION,
            {"protocol_version": PROTOCOL_VERSION, "little_endian": True},
        ):
            pickle.dump(header, file, protocol=2)
        _LegacyPickler(file, protocol=2).dump(collections.OrderedDict(state_dict))
        pickle.dump(list(storages), file, protocol=2)
        for key, array in storages.items():
            file.write(struct.pack("<q", declared_counts.get(key, array.size)))
            file.write(array.astype(array.dtype.newbyteorder("<")).tobytes())


def test_round_trip_with_offsets_strides_and_dtypes(tmp_path):
    weights = np.arange(12, dtype=np.float32) * 0.5
    counter = np.array([7], dtype=np.int64)
    shared, long = _Storage("1", weights), _Storage("2", counter)
    path = tmp_path / "sd.pth"
    _write_legacy(
        path,
        {
            "matrix": _Tensor(shared, 0, (3, 4), (4, 1)),
            "transposed": _Tensor(shared, 0, (4, 3), (1, 4)),
            "tail": _Tensor(shared, 8, (4,), (1,)),
            "count": _Tensor(long, 0, (), ()),
        },
        {"1": weights, "2": counter},
    )

    loaded = load_state_dict(path)

    np.testing.assert_array_equal(loaded["matrix"], weights.reshape(3, 4))
    np.testing.assert_array_equal(loaded["transposed"], weights.reshape(3, 4).T)
    np.testing.assert_array_equal(loaded["tail"], weights[8:])
    assert loaded["count"].shape == () and loaded["count"] == 7
    assert loaded["count"].dtype == np.int64 and loaded["matrix"].dtype == np.float32


@pytest.mark.parametrize("function", [os.system, builtins.exec])
def test_code_in_the_pickle_is_refused_and_not_run(tmp_path, function):
    marker = tmp_path / "pwned"
    command = f"touch {marker}" if function is os.system else f"open({str(marker)!r}, 'w').close()"

    class Payload:
        def __reduce__(self):
            return function, (command,)

    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        for header in (MAGIC_NUMBER, PROTOCOL_VERSION, {"little_endian": True}):
            pickle.dump(header, file, protocol=2)
        pickle.dump(collections.OrderedDict(w=Payload()), file, protocol=2)

    with pytest.raises(UserError, match="refusing pickle global"):
        load_state_dict(path)
    assert not marker.exists()


def test_tensor_larger_than_its_storage_is_refused(tmp_path):
    values = np.zeros(4, np.float32)
    path = tmp_path / "big.pth"
    _write_legacy(path, {"w": _Tensor(_Storage("1", values), 0, (3, 2), (2, 1))}, {"1": values})
    with pytest.raises(UserError, match="does not fit its storage"):
        load_state_dict(path)


def test_storage_count_disagreeing_with_its_declaration_is_refused(tmp_path):
    values = np.zeros(4, np.float32)
    path = tmp_path / "count.pth"
    _write_legacy(
        path,
        {"w": _Tensor(_Storage("1", values), 0, (4,), (1,))},
        {"1": values},
        declared_counts={"1": 5},
    )
    with pytest.raises(UserError, match="holds 5 elements, declared 4"):
        load_state_dict(path)
