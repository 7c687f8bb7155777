import gzip
import importlib.util
import io
import os
import pickle
import struct

import numpy as np
import pytest

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("fetch_mnist", REPO / "scripts" / "fetch_mnist.py")
fetch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch)


def pkl_gz(obj) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as f:
        pickle.dump(obj, f, protocol=2)
    return buf.getvalue()


def test_decode_reads_the_classic_layout_and_joins_train_and_val():
    k = np.arange(784 * 3, dtype=np.float32).reshape(3, 784) % 256
    split = (k / 256, np.array([1, 2, 3]))
    arrays = fetch.decode(pkl_gz((split, split, split)))
    assert arrays["train-images-idx3-ubyte"].shape == (6, 28, 28)
    assert np.array_equal(arrays["t10k-images-idx3-ubyte"].reshape(3, 784), k.astype(np.uint8))
    assert arrays["train-labels-idx1-ubyte"].tolist() == [1, 2, 3, 1, 2, 3]


def test_unpickler_refuses_anything_but_arrays():
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        fetch.decode(pkl_gz(Evil()))


def test_idx_header():
    data = fetch.idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8))
    assert data[:4] == bytes([0, 0, 8, 3])
    assert struct.unpack(">3I", data[4:16]) == (2, 28, 28) and len(data) == 16 + 2 * 784
