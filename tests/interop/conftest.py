"""The peers' real code (../shared/peers, see its README), unpacked once per session into a temporary folder."""

import os
import tarfile

import pytest

PEERS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "peers"))
ARCHIVES = {"master": "nnUNet-master-0e495086.tar.gz", "dkfz": "dkfz-nnssl-70448644.tar.gz",
            "dna": "dna-tawald-425000f6.tar.gz"}


@pytest.fixture(scope="session")
def peers(tmp_path_factory) -> dict[str, str]:
    """{name: unpacked source tree}; skips with the reason when the archives are absent."""
    missing = [f for f in ARCHIVES.values() if not os.path.isfile(os.path.join(PEERS, f))]
    if missing:
        pytest.skip(f"peer sources {missing} not present in {PEERS} (see ../shared/peers/README.md)")
    root = tmp_path_factory.mktemp("peers")
    out = {}
    for name, archive in ARCHIVES.items():
        with tarfile.open(os.path.join(PEERS, archive)) as tar:
            tar.extractall(root, filter="data")
            top = tar.getnames()[0].split("/")[0]
        out[name] = str(root / top)
    stub = root / "stubs" / "huggingface_hub"  # master's like_nnssl imports it at module level, only to download
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("def hf_hub_download(*a, **k):\n    raise RuntimeError('offline test stub')\n")
    out["stubs"] = str(root / "stubs")
    return out
