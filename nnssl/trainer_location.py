"""Where nnssl's trainer shims live (the folder ``nnUNet_extTrainer`` must name so nnU-Net finds nnssl's trainers)."""

import importlib.util
import os


def trainer_dir() -> str:
    """Folder of the trainer shims (installed as the package ``nnssl_trainers``)."""
    spec = importlib.util.find_spec("nnssl_trainers")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nnssl_trainers is not installed; reinstall nnssl (pip install -e .)")
    return os.path.abspath(next(iter(spec.submodule_search_locations)))


def ext_trainer_path() -> str:
    """This process's ``nnUNet_extTrainer`` with the shim folder added once (for a child process's environment)."""
    folder = trainer_dir()
    current = [p for p in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if p]
    return os.pathsep.join(current if folder in current else [*current, folder])


def ensure_ext_trainer_env() -> str:
    """Add the shim folder to ``nnUNet_extTrainer`` of this process (and its children)."""
    os.environ["nnUNet_extTrainer"] = ext_trainer_path()
    return trainer_dir()
