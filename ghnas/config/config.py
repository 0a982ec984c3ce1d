"""``get_cfg()`` and config merging that turns yacs/fvcore errors into one-line errors."""

import os
from typing import List, Optional

import yaml
from fvcore.common.config import CfgNode as _FvcoreCfgNode

from ghnas.utils.errors import GhnasError


class CfgNode(_FvcoreCfgNode):
    """fvcore's CfgNode (with ``_BASE_`` inheritance) whose merge errors name the bad key."""

    def merge_from_file(self, cfg_filename: str, allow_unsafe: bool = False) -> None:
        """Merge a YAML file (and its ``_BASE_`` chain) into this config."""
        if not os.path.isfile(cfg_filename):
            raise GhnasError(f"config file not found: {cfg_filename}")
        try:
            super().merge_from_file(cfg_filename, allow_unsafe=allow_unsafe)
        except yaml.YAMLError as e:
            first = str(e).strip().splitlines()[0]
            raise GhnasError(f"cannot parse config file {cfg_filename}: {first}") from None
        except (KeyError, ValueError, TypeError, AssertionError) as e:
            raise GhnasError(f"{cfg_filename}: {_describe(e)}") from None

    def merge_from_list(self, cfg_list: List[str]) -> None:
        """Merge ``KEY VALUE`` pairs given on the command line."""
        if len(cfg_list) % 2:
            raise GhnasError(f"overrides come as KEY VALUE pairs; got an odd list: {cfg_list}")
        try:
            super().merge_from_list(cfg_list)
        except (KeyError, ValueError, TypeError, AssertionError) as e:
            raise GhnasError(f"command-line override: {_describe(e)}") from None


def _describe(error: Exception) -> str:
    """One line out of a yacs error (they are KeyError/ValueError with a readable message)."""
    text = error.args[0] if error.args else str(error)
    text = " ".join(str(text).split())
    if text.startswith("Non-existent"):
        text += " (see ghnas/config/defaults.py for every accepted key)"
    return text


def get_cfg(config_file: Optional[str] = None) -> CfgNode:
    """A fresh copy of the defaults, optionally merged with a YAML file. Never a global."""
    from ghnas.config.defaults import _C

    cfg = CfgNode(_C.clone())
    if config_file is not None:
        cfg.merge_from_file(config_file)
    return cfg
