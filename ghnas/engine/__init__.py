from ghnas.engine.defaults import (
    config_from_args,
    default_argument_parser,
    default_setup,
    run_cli,
    setup_logger,
)
from ghnas.engine.progress import Progress

__all__ = [
    "Progress",
    "config_from_args",
    "default_argument_parser",
    "default_setup",
    "run_cli",
    "setup_logger",
]
