import json

import h5py
import numpy as np
import pytest

from common.data import features


@pytest.fixture
def npy_folder(tmp_path):
    rng = np.random.default_rng(0)
    for vid, n in (("a", 5), ("b", 9)):
        np.save(tmp_path / f"{vid}.npy", rng.normal(size=(n, 4)).astype(np.float32))
    return tmp_path


def test_npy_store_reads_lazily(npy_folder, monkeypatch):
    calls = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(k.get("mmap_mode")) or real_load(*a, **k))
    store = features.open_feature_store(str(npy_folder))
    assert calls == []  # opening a store reads no array
    assert sorted(store.video_ids()) == ["a", "b"] and "a" in store and "z" not in store
    assert store.num_clips("b") == 9
    assert calls == ["r"]  # the clip count comes from the header through a memory map
    assert store.get("a").shape == (5, 4) and store.feature_dim() == 4


def test_npy_store_uses_feature_shapes_json(npy_folder):
    (npy_folder / "feature_shapes.json").write_text(json.dumps({"a": 5, "b": 9}))
    store = features.NpyFeatureStore(str(npy_folder))
    assert store.num_clips("a") == 5


def test_npy_id_is_name_up_to_first_dot(tmp_path):
    np.save(tmp_path / "v_x.c3d.npy", np.ones((2, 3), np.float32))
    assert "v_x" in features.NpyFeatureStore(str(tmp_path))


@pytest.mark.parametrize(
    "array,message",
    [
        (np.array([[1.0, np.nan]], np.float32), "NaN/Inf"),
        (np.array([[np.inf, 0.0]], np.float32), "NaN/Inf"),
        (np.zeros((0, 4), np.float32), "empty"),
        (np.zeros((4,), np.float32), "shape"),
    ],
)
def test_bad_arrays_name_the_video(tmp_path, array, message):
    np.save(tmp_path / "bad_vid.npy", array)
    store = features.NpyFeatureStore(str(tmp_path))
    with pytest.raises(features.FeatureError, match=message) as info:
        store.get("bad_vid")
    assert "bad_vid" in str(info.value)


def test_missing_video_names_it(npy_folder):
    with pytest.raises(KeyError, match="nope"):
        features.NpyFeatureStore(str(npy_folder)).get("nope")


def test_hdf5_layouts(tmp_path):
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    flat, group, avi = tmp_path / "flat.h5", tmp_path / "anet.hdf5", tmp_path / "tall.hdf5"
    with h5py.File(flat, "w") as f:
        f["vid1"] = data
    with h5py.File(group, "w") as f:
        f.create_group("v_abc")["c3d_features"] = data
    with h5py.File(avi, "w") as f:
        f["s13-d21.avi"] = data
    for path, vid, layout in ((flat, "vid1", "hdf5"), (group, "v_abc", "hdf5_group"), (avi, "s13-d21", "hdf5_avi")):
        store = features.open_feature_store(str(path))
        assert store.layout == layout
        assert vid in store and store.num_clips(vid) == 3 and store.feature_dim() == 4
        np.testing.assert_array_equal(store.get(vid), data)


def test_hdf5_nan_names_video_and_file(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f["v"] = np.array([[np.nan]], np.float32)
    with pytest.raises(features.FeatureError, match=r"'v' in .*f\.h5"):
        features.open_feature_store(str(path)).get("v")


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        features.open_feature_store(str(tmp_path / "nothing.h5"))
