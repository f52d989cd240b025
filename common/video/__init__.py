"""From a video file to the I3D features the models are trained on, as the original `prepare/` scripts extract them.

`presets.py` (what each dataset's script does), `decoding.py` (ffmpeg frames), `frame_preprocessing.py` (OpenCV's
resize, scaling, centre crop), `windows.py` (the window and chunk rule, streamed), the network (`unit3d.py`,
`inception_module.py`, `i3d.py`), its weights (`i3d_checkpoint.py`, `i3d_torch_conversion.py`), and the extraction
of one video (`extraction.py`) and of a folder (`feature_folder.py`, with `progress.py`).
"""
