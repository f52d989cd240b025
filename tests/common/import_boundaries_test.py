"""`common/` imports no model family, and the families do not import each other (they meet in `common.registry`)."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAMILIES = ("vslnet_tf", "lpnet_tf")


def imported_packages(path):
    """The top-level packages that `path` imports (`import x.y`, `from x.y import z`; relative imports excluded)."""
    packages = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            packages.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            packages.add(node.module.split(".")[0])
    return packages


def imports_of(package):
    return {str(p.relative_to(ROOT)): imported_packages(p) for p in sorted((ROOT / package).rglob("*.py"))}


def test_the_parser_sees_imports(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "import os.path\nfrom vslnet_tf.model import VSLNet\nfrom . import sibling\n"
        "def f():\n    import lpnet_tf.task\n"
    )
    assert imported_packages(path) == {"os", "vslnet_tf", "lpnet_tf"}


def test_common_imports_no_family():
    found = {path: sorted(packages & set(FAMILIES)) for path, packages in imports_of("common").items()}
    assert {path: families for path, families in found.items() if families} == {}
    assert len(found) > 40  # every module of common/ was read


@pytest.mark.parametrize("family, other", [("vslnet_tf", "lpnet_tf"), ("lpnet_tf", "vslnet_tf")])
def test_a_family_does_not_import_the_other(family, other):
    assert [path for path, packages in imports_of(family).items() if other in packages] == []
