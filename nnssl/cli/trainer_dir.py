"""``nnssl_trainer_dir``: print the folder to put in ``nnUNet_extTrainer``."""

from nnssl.arguments import SuggestingArgumentParser
from nnssl.trainer_location import trainer_dir


def main(argv=None) -> int:
    """Print the folder, e.g. ``export nnUNet_extTrainer=$(nnssl_trainer_dir)``."""

    SuggestingArgumentParser(prog="nnssl_trainer_dir", description="Print the folder of nnssl's trainer shims; use "
                            "it as export nnUNet_extTrainer=$(nnssl_trainer_dir) so nnU-Net finds nnssl's "
                            "trainers.").parse_args(argv)
    print(trainer_dir())
    return 0
