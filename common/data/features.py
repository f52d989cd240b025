"""Visual feature stores, read lazily: one video at a time, so memory never grows with the number of videos.

The originals load every video into a dict at start-up; here a store only knows where each video lives and reads
it when asked. Three layouts are supported:

| layout | on disk | id of video `v` |
|---|---|---|
| `npy` | folder of `{v}.npy`, each `[num_clips, dim]` (optional `feature_shapes.json`) | file name up to the first `.`
|
| `hdf5` | one HDF5 file, one dataset per video | dataset name |
| `hdf5_group` | 2D-TAN `sub_activitynet_v1-3.c3d.hdf5`: one group per video holding `c3d_features` | group name |
| `hdf5_avi` | 2D-TAN `tall_c3d_features.hdf5`: datasets named `{v}.avi` | dataset name without `.avi` |

Every array is checked when read: an unreadable file, a zero-length or non-2-D array, or one holding NaN/Inf,
raises `FeatureError` naming the video and the file. `validate_videos` reads every video of a dataset once, before
training, and also checks that all have one width; `store_fingerprint` identifies a store's contents cheaply (file
names, sizes and modification times), so that what was validated is validated again only when it changed.
"""

import collections
import json
import os
import threading

import h5py
import numpy as np

from common.progress import Progress


class FeatureError(ValueError):
    """A feature array that cannot be used; the message names the video and the file."""


def _check(vid, array, where):
    if array.ndim != 2:
        raise FeatureError(f"features of video {vid!r} in {where} have shape {array.shape}; expected [clips, dim]")
    if array.shape[0] == 0:
        raise FeatureError(f"features of video {vid!r} in {where} are empty (0 clips)")
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))
        raise FeatureError(
            f"features of video {vid!r} in {where} hold {len(bad)} NaN/Inf values (first at clip {bad[0][0]})"
        )
    return array.astype(np.float32, copy=False)


class NpyFeatureStore:
    """A folder of `{vid}.npy` files (the originals' layout).

    Clip counts come from `feature_shapes.json` when the folder has one, else from the `.npy` headers (read
    through a memory map, so no feature data is loaded). Reads are serialized: `np.load` parses headers with
    `ast`, which CPython 3.11 does not support from several threads at once (`tf.data` calls `get` from its
    parallel map threads).
    """

    _lock = threading.Lock()

    def __init__(self, folder):
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"feature folder {folder} does not exist")
        self.folder = folder
        self._paths = {}
        for name in sorted(os.listdir(folder)):
            if name.endswith(".npy"):
                self._paths[name.split(".", 1)[0]] = os.path.join(folder, name)
        shapes_path = os.path.join(folder, "feature_shapes.json")
        self._shapes = None
        if os.path.exists(shapes_path):
            with open(shapes_path) as f:
                self._shapes = {str(k): int(v) for k, v in json.load(f).items()}

    def __contains__(self, vid):
        return vid in self._paths

    def __len__(self):
        return len(self._paths)

    def video_ids(self):
        return list(self._paths)

    def num_clips(self, vid):
        if self._shapes is not None and vid in self._shapes:
            return self._shapes[vid]
        with self._lock:
            return int(np.load(self._path(vid), mmap_mode="r").shape[0])

    def feature_dim(self):
        first = next(iter(self._paths), None)
        if first is None:
            raise FeatureError(f"feature folder {self.folder} holds no .npy file")
        with self._lock:
            return int(np.load(self._paths[first], mmap_mode="r").shape[1])

    def declared_num_clips(self, vid):
        """The clip count `feature_shapes.json` gives, or `None`."""
        return None if self._shapes is None else self._shapes.get(vid)

    def location(self, vid):
        return self._path(vid)

    def get(self, vid):
        path = self._path(vid)
        try:
            with self._lock:
                array = np.load(path, allow_pickle=False)
        except Exception as e:  # a damaged file raises OSError, ValueError, EOFError or SyntaxError (its header)
            raise FeatureError(f"features of video {vid!r} in {path} cannot be read as a .npy array ({e})") from None
        return _check(vid, array, path)

    def _path(self, vid):
        try:
            return self._paths[vid]
        except KeyError:
            raise KeyError(f"video {vid!r} has no features in {self.folder}") from None


class HDF5FeatureStore:
    """An HDF5 file of per-video features, in one of the layouts `hdf5`, `hdf5_group`, `hdf5_avi`.

    The file is opened on first use in each process and read one dataset at a time.
    """

    def __init__(self, path, layout="hdf5"):
        if layout not in ("hdf5", "hdf5_group", "hdf5_avi"):
            raise ValueError(f"unknown HDF5 layout {layout!r}")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"feature file {path} does not exist")
        self.path = path
        self.layout = layout
        self._file = None
        self._pid = None
        with h5py.File(path, "r") as f:
            keys = list(f.keys())
        if layout == "hdf5_avi":
            self._keys = {k[: -len(".avi")] if k.endswith(".avi") else k: k for k in keys}
        else:
            self._keys = {k: k for k in keys}

    def __contains__(self, vid):
        return vid in self._keys

    def __len__(self):
        return len(self._keys)

    def video_ids(self):
        return list(self._keys)

    def _dataset(self, vid):
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        try:
            node = self._file[self._keys[vid]]
        except KeyError:
            raise KeyError(f"video {vid!r} has no features in {self.path}") from None
        if self.layout == "hdf5_group":
            if "c3d_features" not in node:
                raise FeatureError(f"group {vid!r} in {self.path} has no 'c3d_features' dataset")
            node = node["c3d_features"]
        return node

    def num_clips(self, vid):
        return int(self._dataset(vid).shape[0])

    def feature_dim(self):
        first = next(iter(self._keys), None)
        if first is None:
            raise FeatureError(f"feature file {self.path} holds no video")
        return int(self._dataset(first).shape[1])

    def declared_num_clips(self, vid):
        return None

    def location(self, vid):
        return f"{self.path}:{self._keys.get(vid, vid)}"

    def get(self, vid):
        try:
            array = np.asarray(self._dataset(vid)[()])
        except (OSError, ValueError, TypeError) as e:
            raise FeatureError(f"features of video {vid!r} in {self.location(vid)} cannot be read ({e})") from None
        return _check(vid, array, self.location(vid))


def open_feature_store(path, layout="auto"):
    """Open `path` as a feature store. `layout="auto"` picks `npy` for a folder and, for a file, `hdf5_group` if
    its first entry is a group, `hdf5_avi` if its keys end in `.avi`, else `hdf5`."""
    if layout == "npy" or (layout == "auto" and os.path.isdir(path)):
        return NpyFeatureStore(path)
    if layout == "auto":
        if not os.path.isfile(path):
            raise FileNotFoundError(f"feature path {path} does not exist")
        with h5py.File(path, "r") as f:
            keys = list(f.keys())
            if keys and isinstance(f[keys[0]], h5py.Group):
                layout = "hdf5_group"
            elif keys and all(k.endswith(".avi") for k in keys):
                layout = "hdf5_avi"
            else:
                layout = "hdf5"
    return HDF5FeatureStore(path, layout)


def store_fingerprint(path):
    """What identifies the contents of a feature store without reading it: for a folder, every file's name, size
    and modification time; for an HDF5 file, its size and modification time. `{"files": {name: [size, mtime_ns]}}`."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        entries = {}
        with os.scandir(path) as it:
            for entry in it:
                if entry.is_file():
                    stat = entry.stat()
                    entries[entry.name] = [stat.st_size, stat.st_mtime_ns]
        return {"files": dict(sorted(entries.items()))}
    stat = os.stat(path)
    return {"files": {os.path.basename(path): [stat.st_size, stat.st_mtime_ns]}}


def describe_store_change(old, new):
    """A short sentence saying how two `store_fingerprint`s differ (`None` if they do not)."""
    old, new = old.get("files", {}), new.get("files", {})
    if old == new:
        return None
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(name for name in set(old) & set(new) if old[name] != new[name])
    parts = [
        f"{len(names)} {what} (e.g. {names[0]})"
        for names, what in ((changed, "changed"), (added, "added"), (removed, "removed"))
        if names
    ]
    return "files " + ", ".join(parts)


def validate_videos(store, vids, feature_dim=0, max_listed=10, progress=False):
    """Read every video in `vids` once and check it: readable, 2-D, at least one clip, finite, all of one width
    (`feature_dim` when it is not 0, else the width most videos have), and as many clips as `feature_shapes.json`
    says where the folder has one. `progress` shows the progress of a check that takes over a second
    (`common.progress`).

    Returns:
        `(num_clips, width)`: dict vid → clip count of the array, and the width.

    Raises:
        FeatureError: naming every bad video (the first `max_listed`) with its file and the problem.
    """
    vids = list(dict.fromkeys(vids))
    errors = []
    shapes = {}
    checking = Progress(len(vids), "checking the features", unit="video", delay=1.0, enabled=progress)
    for done, vid in enumerate(vids, start=1):
        try:
            shapes[vid] = store.get(vid).shape
        except FeatureError as e:
            errors.append(str(e))
        checking.update(done)
    checking.finish()
    widths = collections.Counter(shape[1] for shape in shapes.values())
    width = feature_dim or (widths.most_common(1)[0][0] if widths else 0)
    expected = (
        f"--feature_dim {width}"
        if feature_dim
        else f"{width}, the width of {widths[width]} of the {len(shapes)} readable videos"
    )
    for vid, (num_clips, dim) in shapes.items():
        if dim != width:
            errors.append(f"features of video {vid!r} in {store.location(vid)} are {dim} wide; expected {expected}")
        declared = store.declared_num_clips(vid)
        if declared is not None and declared != num_clips:
            errors.append(
                f"features of video {vid!r} in {store.location(vid)} have {num_clips} clips but "
                f"feature_shapes.json says {declared}"
            )
    if errors:
        listed = "\n  ".join(errors[:max_listed])
        more = f"\n  ... and {len(errors) - max_listed} more" if len(errors) > max_listed else ""
        problems = "1 problem" if len(errors) == 1 else f"{len(errors)} problems"
        raise FeatureError(
            f"{problems} in the features of {len(vids)} videos (checked before training):\n  {listed}{more}"
        )
    return {vid: shape[0] for vid, shape in shapes.items()}, width
