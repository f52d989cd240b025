"""`experiments.convert_i3d_torch`: a `.pt` state dict of the port's layout → a checkpoint `I3D` imports."""

import numpy as np
import pytest

from common.checkpoint_conversion import tf1_reader
from experiments import convert_i3d_torch
from tests.common.video.i3d_reference import layout_or_ours, random_arrays
from tests.common.video.i3d_torch_conversion_test import port_state_dict
from tests.experiments.predict_test import parse


def test_converts_a_pt_file(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    state, _ = port_state_dict(random_arrays(layout_or_ours(), seed=7))
    pt = tmp_path / "rgb_charades.pt"
    torch.save({name: torch.from_numpy(np.asarray(value)) for name, value in state.items()}, pt)
    out = str(tmp_path / "rgb_charades" / "model.ckpt")
    report = convert_i3d_torch.run(parse(convert_i3d_torch, torch_checkpoint=pt, out=out))
    assert len(report.assigned) == 228 and len(report.ignored) == 2
    assert "I3D imports its 228 variables" in capsys.readouterr().out
    written = tf1_reader.TF1Checkpoint(out)
    assert written.shape("RGB/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/w") == (1, 1, 1, 1024, 157)
    with pytest.raises(FileExistsError, match="--overwrite"):
        convert_i3d_torch.run(parse(convert_i3d_torch, torch_checkpoint=pt, out=out))


def test_a_state_dict_of_another_network_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    pt = tmp_path / "other.pt"
    torch.save({"fc.weight": torch.zeros(3, 4)}, pt)
    with pytest.raises(ValueError, match="unexpected \\(1\\):\n    fc.weight \\[3, 4\\]"):
        convert_i3d_torch.run(parse(convert_i3d_torch, torch_checkpoint=pt, out=str(tmp_path / "x" / "model.ckpt")))
    assert not (tmp_path / "x").exists()
