"""Add-on preferences: which server, where its Python is, port, token, default steps.

Outside an installed extension (tests, ``batch.py`` run from the source tree) there are no
preferences; :func:`get` then returns defaults overridable by ``CAFETALK_SERVER_URL`` and
``CAFETALK_TOKEN``.
"""

import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty
from bpy.types import AddonPreferences

from .io import vocabulary

ADDON_ID = __package__ or "cafetalk_blender"


def user_dir() -> Path:
    """Writable folder of the extension (holds the server venv and logs)."""
    try:
        return Path(bpy.utils.extension_path_user(ADDON_ID, path="", create=True))
    except (ValueError, AttributeError, KeyError):
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "cafetalk_blender"
        base.mkdir(parents=True, exist_ok=True)
        return base


def venv_python() -> Path:
    sub = ("Scripts", "python.exe") if sys.platform == "win32" else ("bin", "python")
    return user_dir().joinpath("server-venv", *sub)


class CAFETALK_Preferences(AddonPreferences):
    bl_idname = ADDON_ID

    server_mode: EnumProperty(
        name="Server", default="BUNDLED", description="Which CafeTalk server the add-on talks to",
        items=vocabulary.numbered((
            ("BUNDLED", "Start locally", "Start the bundled server with a Python that has torch + cafetalk"),
            ("REMOTE", "Remote URL", "Use a server already running somewhere (URL + token)"))))
    python_path: StringProperty(
        name="Python interpreter", subtype="FILE_PATH",
        description="Python with torch and cafetalk installed (empty: the environment made by 'Install server environment')")
    port: IntProperty(name="Port", default=8765, min=1024, max=65535, description="Local port of the bundled server")
    remote_url: StringProperty(name="URL", default="http://127.0.0.1:8765", description="Base URL of a running server")
    token: StringProperty(name="Token", subtype="PASSWORD", description="Bearer token the server expects (if any)")
    default_steps: IntProperty(name="Default steps", default=10, min=1, max=200,
                               description="Denoising steps for new scenes")

    def draw(self, context: Any) -> None:
        layout = self.layout
        layout.prop(self, "server_mode", expand=True)
        if self.server_mode == "BUNDLED":
            layout.prop(self, "python_path")
            layout.prop(self, "port")
            layout.label(text=f"Server environment: {venv_python()}")
            layout.operator("cafetalk.install_server_env", icon="IMPORT")
        else:
            layout.prop(self, "remote_url")
        layout.prop(self, "token")
        layout.prop(self, "default_steps")


def get(context: Any = None) -> Any:
    """The preferences, or defaults (+ environment overrides) when not installed as an extension."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID) if context and context.preferences else None
    if addon is not None and addon.preferences is not None:
        return addon.preferences
    url = os.environ.get("CAFETALK_SERVER_URL", "")
    return SimpleNamespace(server_mode="REMOTE" if url else "BUNDLED", python_path=os.environ.get("CAFETALK_PYTHON", ""),
                           port=int(os.environ.get("CAFETALK_PORT", "8765")), remote_url=url or "http://127.0.0.1:8765",
                           token=os.environ.get("CAFETALK_TOKEN", ""), default_steps=10)


def server_url(prefs: Any) -> str:
    return prefs.remote_url if prefs.server_mode == "REMOTE" else f"http://127.0.0.1:{prefs.port}"


def interpreter(prefs: Any) -> str:
    """The Python that runs the bundled server: the chosen one, else the installed venv's."""
    if prefs.python_path:
        return bpy.path.abspath(prefs.python_path)
    return str(venv_python())


classes = (CAFETALK_Preferences,)
