"""``get_cfg()`` and config merging that turns yacs/fvcore errors into one-line errors."""

import ast
import difflib
import os
from typing import List, Optional, Tuple

import yaml
from fvcore.common.config import CfgNode as _FvcoreCfgNode

from ghnas.plugins import add_plugin_config, check_plugins_installed, installed_plugins
from ghnas.utils.errors import GhnasError


class CfgNode(_FvcoreCfgNode):
    """fvcore's CfgNode (with ``_BASE_`` inheritance) whose merge errors name the bad key."""

    def merge_from_file(self, cfg_filename: str, allow_unsafe: bool = False) -> None:
        """Merge a YAML file (and its ``_BASE_`` chain) into this config."""
        check_plugins_installed(check_config_chain(cfg_filename), f"config file {cfg_filename}")
        try:
            super().merge_from_file(cfg_filename, allow_unsafe=allow_unsafe)
        except (KeyError, ValueError, TypeError, AssertionError) as e:
            raise GhnasError(f"{cfg_filename}: {_describe(e, self)}") from None
        if "PLUGINS" in self:  # a record of what is installed, not a setting a file changes
            self.PLUGINS = sorted(installed_plugins())

    def merge_from_other_cfg(self, cfg_other) -> None:
        """Merge another config; numbers for float keys are taken as floats (see below)."""
        _floats_where_expected(cfg_other, self)
        super().merge_from_other_cfg(cfg_other)

    def merge_from_list(self, cfg_list: List[str]) -> None:
        """Merge ``KEY VALUE`` pairs given on the command line."""
        if len(cfg_list) % 2:
            raise GhnasError(f"overrides come as KEY VALUE pairs; got an odd list: {cfg_list}")
        pairs = list(cfg_list)
        for i in range(0, len(pairs), 2):
            pairs[i + 1] = _as_expected(self, pairs[i], pairs[i + 1])
        try:
            super().merge_from_list(pairs)
        except (KeyError, ValueError, TypeError, AssertionError) as e:
            raise GhnasError(f"command-line override: {_describe(e, self)}") from None


def check_config_chain(path: str, chain: Tuple[str, ...] = ()) -> List[str]:
    """Raise :class:`GhnasError` (one line) unless ``path`` and every ``_BASE_`` it names are
    readable YAML files holding a mapping, with no file its own ancestor. Returns the
    plug-ins the files name (``PLUGINS``)."""
    real = os.path.realpath(path)
    if real in chain:
        loop = " -> ".join(os.path.basename(c) for c in (*chain, real))
        raise GhnasError(f"config file {path}: its _BASE_ chain loops back to itself ({loop})")
    if not os.path.isfile(path):
        named = f" (the _BASE_ of {chain[-1]})" if chain else ""
        raise GhnasError(f"config file not found: {path}{named}")
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0]
        raise GhnasError(f"cannot parse config file {path}: {first}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GhnasError(f"cannot read config file {path}: {e}") from None
    if not isinstance(data, dict):
        found = "nothing" if data is None else f"a {type(data).__name__}"
        raise GhnasError(f"config file {path} holds {found}; it must map keys to values")
    plugins = data.get("PLUGINS") or []
    if not isinstance(plugins, list):
        raise GhnasError(f"config file {path}: PLUGINS must be a list of plug-in names")
    bases = data.get("_BASE_", [])
    for base in bases if isinstance(bases, list) else [bases]:  # fvcore takes one or a list
        if not isinstance(base, str):
            raise GhnasError(f"config file {path}: _BASE_ must name files, got {base!r}")
        base = os.path.expanduser(base)
        if not base.startswith("/"):  # relative to the file that names it, as in fvcore
            base = os.path.join(os.path.dirname(path), base)
        plugins += check_config_chain(base, (*chain, real))
    return [str(p) for p in plugins]


# yacs refuses an int for a float key, and PyYAML reads "600e6" as a string, so a budget written
# 600000000 or 600e6 would be a type error. A number meant for a float key is taken as a float.
def _to_float(value):
    """``value`` as a float when it is an int or a numeric string, else unchanged."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _floats_where_expected(other, defaults) -> None:
    """Turn numbers in ``other`` into floats wherever ``defaults`` holds a float (in place)."""
    for key, value in other.items():
        default = defaults.get(key) if isinstance(defaults, dict) else None
        if isinstance(value, dict) and isinstance(default, dict):
            _floats_where_expected(value, default)
        elif isinstance(default, float):
            other[key] = _to_float(value)


def _as_expected(cfg, key: str, value):
    """A command-line ``value`` for ``key`` as a float when the key holds a float, and as a list
    when it holds a list and the value is written bare (``PHASES ghn,search``)."""
    node = cfg
    for part in str(key).split("."):
        if not isinstance(node, dict) or part not in node:
            return value  # an unknown key: yacs names it
        node = node[part]
    if isinstance(node, float):
        return _to_float(value)
    if isinstance(node, (list, tuple)) and isinstance(value, str):
        text = value.strip()
        if text and text[0] not in "[(":
            return [_literal(item.strip()) for item in text.split(",") if item.strip()]
    return value


def _literal(text: str):
    """A bare list item as the number or bool it spells, else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _describe(error: Exception, cfg) -> str:
    """One line out of a yacs error (they are KeyError/ValueError with a readable message); an
    unknown key gets the closest keys of ``cfg`` as a suggestion."""
    text = error.args[0] if error.args else str(error)
    text = " ".join(str(text).split())
    if text.startswith("Non-existent"):
        unknown = text.rsplit(" ", 1)[-1]
        close = difflib.get_close_matches(unknown, list(_dotted_keys(cfg)), n=2, cutoff=0.8)
        if close:
            text += f"; did you mean {' or '.join(close)}?"
        elif unknown.split(".")[0] not in cfg:  # a whole section: often a project's keys
            text += (
                f"; {unknown.split('.')[0]} is no section of the core or of an installed "
                "plug-in (is the project that adds it installed? pip install -e projects/<Name>)"
            )
        text += " (see ghnas/config/defaults.py for every accepted key)"
    return text


def _dotted_keys(node, prefix: str = ""):
    """Every leaf key of a config, dotted (``SOLVER.BASE_LR``)."""
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _dotted_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def get_cfg(config_file: Optional[str] = None) -> CfgNode:
    """A fresh copy of the defaults, optionally merged with a YAML file. Never a global."""
    from ghnas.config.defaults import _C

    cfg = CfgNode(_C.clone())
    add_plugin_config(cfg)
    if config_file is not None:
        cfg.merge_from_file(config_file)
    return cfg
