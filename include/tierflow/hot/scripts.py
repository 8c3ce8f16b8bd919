"""The hot tier's Lua scripts, kept as ``.lua`` files in ``tierflow/hot/lua`` and read as package
resources, so that linters and editors see them as Lua."""

from __future__ import annotations

from importlib import resources


def lua(name: str) -> str:
    """The text of ``lua/<name>``."""
    return resources.files("tierflow.hot").joinpath("lua", name).read_text()
