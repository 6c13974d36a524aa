"""Judges of ML notebooks and their LLM backends; for now the local offline server."""

from nbjudge.judges.server import (
    DEFAULT_MODEL_NAME,
    LocalServer,
    LocalServerError,
    ModelNotInstalledError,
    ServerNotBuiltError,
    ServerOptions,
    build_command,
    find_free_port,
    find_model,
    find_server_binary,
)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "LocalServer",
    "LocalServerError",
    "ModelNotInstalledError",
    "ServerNotBuiltError",
    "ServerOptions",
    "build_command",
    "find_free_port",
    "find_model",
    "find_server_binary",
]
