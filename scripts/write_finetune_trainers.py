"""Write ``nnssl/trainers/builtin_finetune_trainers.py`` from the variant table (run after changing the table).

Usage: python scripts/write_finetune_trainers.py
"""

import os

from nnssl.methods.registry import BUILTIN
from nnssl.trainers.finetune_variants import written_source

PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nnssl", "trainers",
                    "builtin_finetune_trainers.py")

if __name__ == "__main__":
    with open(PATH, "w") as f:
        f.write(written_source(BUILTIN))
    print(f"wrote {PATH}")
