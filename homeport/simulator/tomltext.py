"""The TOML text of a controller config that the simulator writes (``homeport.toml``).

A module of its own, free of the simulator's servers, so that what only writes a config
(the benchmark's driver, whose memory is measured as the daemon's) does not load them.
"""

from __future__ import annotations

import json
from typing import Any


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    return json.dumps(str(value))


def render_toml(sections: dict[str, dict[str, Any]]) -> str:
    lines = ["# Written by `homeport sim up`: a controller config for the simulated estate."]
    for section, values in sections.items():
        lines += ["", f"[{section}]"]
        lines += [
            f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None
        ]
    return "\n".join(lines) + "\n"
