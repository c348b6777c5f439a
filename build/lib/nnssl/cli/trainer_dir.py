"""``nnssl_trainer_dir``: print the folder to put in ``nnUNet_extTrainer``."""

import importlib.util
import os

from nnssl.cli._common import SuggestingArgumentParser


def trainer_dir() -> str:
    """Folder of the trainer shims (installed as the package ``nnssl_trainers``)."""
    spec = importlib.util.find_spec("nnssl_trainers")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nnssl_trainers is not installed; reinstall nnssl (pip install -e .)")
    return os.path.abspath(next(iter(spec.submodule_search_locations)))


def ensure_ext_trainer_env() -> str:
    """Add the shim folder to ``nnUNet_extTrainer`` of this process (and its children)."""
    folder = trainer_dir()
    current = [p for p in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if p]
    if folder not in current:
        os.environ["nnUNet_extTrainer"] = os.pathsep.join([*current, folder])
    return folder


def main(argv=None) -> int:
    """Print the folder, e.g. ``export nnUNet_extTrainer=$(nnssl_trainer_dir)``."""

    SuggestingArgumentParser(prog="nnssl_trainer_dir", description="Print the folder of nnssl's trainer shims; use "
                            "it as export nnUNet_extTrainer=$(nnssl_trainer_dir) so nnU-Net finds nnssl's "
                            "trainers.").parse_args(argv)
    print(trainer_dir())
    return 0
