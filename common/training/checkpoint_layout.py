"""Restoring checkpoints written before layers were moved or renamed.

A `tf.train.Checkpoint` finds each saved object by its attribute path from the root (`model/word_embedding/unk`).
When a layer moves, for instance into the shared trunk (`model/backbone/word_embedding/unk`), older checkpoints no
longer match. A model lists its moves in `checkpoint_moves`: pairs `(new_path, old_path)` relative to the model,
where `"backbone/*"` → `"*"` says that every child of `backbone` used to be a child of the model itself. `restore`
reads the checkpoint's object graph and, for every move whose new path the checkpoint lacks, restores through a
view of the model arranged as the checkpoint was saved.
"""

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def saved_paths(checkpoint_path):
    """Every attribute path (`"model/backbone/encoder"`) of the object graph saved in `checkpoint_path`."""
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(tf.train.load_checkpoint(checkpoint_path).get_tensor(_OBJECT_GRAPH_KEY))
    paths, queue, seen = set(), [(0, "")], {0}
    while queue:
        node, prefix = queue.pop(0)
        for child in graph.nodes[node].children:
            path = f"{prefix}{child.local_name}"
            paths.add(path)
            if child.node_id not in seen:
                seen.add(child.node_id)
                queue.append((child.node_id, path + "/"))
    return paths


class _Node:
    """A trackable whose children may be rearranged; untouched nodes stand for the trackable itself."""

    def __init__(self, trackable=None):
        self.trackable = trackable
        self._children = None if trackable is not None else {}

    @property
    def children(self):
        if self._children is None:
            children = tf.train.TrackableView.children(self.trackable)
            self._children = {name: _Node(child) for name, child in children.items()}
        return self._children

    def find(self, parts, create=False):
        node = self
        for part in parts:
            if part not in node.children:
                if not create:
                    raise KeyError("/".join(parts))
                node.children[part] = _Node()
            node = node.children[part]
        return node

    def materialize(self):
        if self._children is None:
            return self.trackable
        view = tf.__internal__.tracking.AutoTrackable()
        for name, child in self.children.items():
            setattr(view, name, child.materialize())
        return view


def _split(path):
    return [p for p in path.split("/") if p]


def _apply_move(root, new_path, old_path):
    new, old = _split(new_path), _split(old_path)
    if new[-1] == "*":
        if old[-1] != "*":
            raise ValueError(f"a move of every child ({new_path}) needs a target ending in '*', got {old_path}")
        source_parent = root.find(new[:-2])
        source = source_parent.children.pop(new[-2])
        target = root.find(old[:-1], create=True)
        target.children.update(source.children)
        return
    parent = root.find(new[:-1])
    source = parent.children.pop(new[-1])
    root.find(old[:-1], create=True).children[old[-1]] = source
    # A layer emptied by the move did not exist in the old layout; left in the view it would be unmatched.
    if not parent.children and len(new) > 1 and parent is not root.find(old[:-1]):
        root.find(new[:-2]).children.pop(new[-2])


def _has_path(trackable, path):
    try:
        _Node(trackable).find(_split(path))
    except KeyError:
        return False
    return True


def model_for_checkpoint(model, checkpoint_path, root_name="model"):
    """`model`, or a view of it arranged as `checkpoint_path` was saved (the model's `checkpoint_moves` whose new
    paths the checkpoint lacks)."""
    moves = tuple(getattr(model, "checkpoint_moves", ()))
    if not moves:
        return model
    saved = saved_paths(checkpoint_path)
    # A move applies to a layer this model has (VSLBase has no query pooling) and the checkpoint lacks.
    pending = [
        (new, old)
        for new, old in moves
        if _has_path(model, new.removesuffix("/*")) and f"{root_name}/{new.removesuffix('/*')}" not in saved
    ]
    if not pending:
        return model
    root = _Node(model)
    for new, old in pending:
        _apply_move(root, new, old)
    return root.materialize()


def restore(checkpoint_path, model, **others):
    """`tf.train.Checkpoint(model=model, **others).restore(checkpoint_path)`, in the layout it was saved with.

    Returns:
        the restore status.
    """
    model = model_for_checkpoint(model, checkpoint_path)
    return tf.train.Checkpoint(model=model, **others).restore(checkpoint_path)
