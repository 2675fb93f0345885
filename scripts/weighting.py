#!/usr/bin/env python3
r"""One VAE loss in every weighting convention, and the tfvae flags that train it.

    python scripts/weighting.py --from=pythae --beta=4 --reconstruction_loss=mse \
        --input_shape=64,64,1 --latent_dim=10
    python scripts/weighting.py --from=flagfile:scripts/flags/question_mean_mean_0.1.flags
    python scripts/weighting.py --recommend --dataset=digits

See tfvae/cli/weighting.py (also installed as `tfvae-weighting`).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvae.cli import weighting  # pylint: disable=wrong-import-position

if __name__ == "__main__":
  weighting.main()
