"""pyproject.toml lists packages explicitly: every package folder below nnssl/ must be among them, or an install
that is not editable would miss it."""

import os

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_nnssl_package_is_installed():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["packages"])
    found = {os.path.relpath(folder, ROOT).replace(os.sep, ".")
             for folder, _, files in os.walk(os.path.join(ROOT, "nnssl")) if "__init__.py" in files}
    assert found and found <= listed, sorted(found - listed)
