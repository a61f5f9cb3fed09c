"""`python -m fastlm.train_lm ...` (what torchrun launches: `torchrun --nproc_per_node N -m fastlm.train_lm ...`)."""
import sys

from . import main

sys.exit(main(prog="python -m fastlm.train_lm"))
