"""nlvl-tf: LPNet and VSLBase/VSLNet/VSLNet-L in TensorFlow 2 / Keras 3, faithful to the original code."""

import setuptools

setuptools.setup(
    name="nlvl-tf",
    version="0.1.0",
    description=(
        "Natural Language Video Localization (LPNet, VSLBase, VSLNet, VSLNet-L) in TensorFlow 2 / Keras 3, "
        "faithful to the original authors' code."
    ),
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["common", "common.*", "vslnet_tf", "vslnet_tf.*", "lpnet_tf",
                                               "lpnet_tf.*", "experiments", "experiments.*"]),
    package_data={"experiments": ["*.json", "paper_tables/*.json"]},
    install_requires=["tensorflow>=2.16,<3", "numpy", "h5py", "absl-py", "nltk>=3.10,<3.11"],
    extras_require={"test": ["pytest", "matplotlib"], "plot": ["matplotlib"]},
    # `common.registry` finds the model families here, so that `common/` imports none of them.
    entry_points={"nlvl_tf.families": ["vslnet = vslnet_tf.family", "lpnet = lpnet_tf.family"]},
)
