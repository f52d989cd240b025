"""nlvl-tf: the package's metadata and tool settings are in `pyproject.toml` (PEP 621); this file stays so that
tools that call `setup.py` keep working."""

import setuptools

setuptools.setup()
