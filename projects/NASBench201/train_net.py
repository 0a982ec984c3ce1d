#!/usr/bin/env python
"""NAS-Bench-201 with ghnas: the core ``tools/train_net.py`` with the project's space and keys.

python projects/NASBench201/train_net.py --config-file projects/NASBench201/configs/quick.yaml
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import train_net  # noqa: E402  (the core entry point)
from nasbench201 import add_nasbench201_config  # noqa: E402  (importing registers the space)

from ghnas.engine import default_argument_parser, run_cli  # noqa: E402

if __name__ == "__main__":
    args = default_argument_parser(__doc__.splitlines()[0]).parse_args()
    sys.exit(run_cli(lambda a: train_net.main(a, extend=add_nasbench201_config), args))
