"""Operators: thin wrappers that call takes/take_store/nla_controls; failures reach the artist one way.

Operators that do not talk to the server derive from :class:`ReportingOperator`: its ``run``
does the work and returns the line to report; a :class:`~.io.errors.CafeTalkError` raised
anywhere below becomes one ``ERROR`` report (and the panel's status line) and
``{'CANCELLED'}``, in :func:`report_failure`, the one place that does so.

Every operator that talks to the server is a modal timer operator (Blender's
``operator_modal_timer.py`` template), so no network call ever runs on Blender's main thread:
``execute`` reads the scene, starts the call in a worker thread, adds the timer and the modal
handler and returns ``RUNNING_MODAL`` at once, from a button or a script alike; ``modal``
handles Esc first (the call is dropped, nothing is written), works on TIMER and returns
``PASS_THROUGH`` otherwise; the result is applied on the main thread (one undo step) when the
call is over; ``cancel`` always removes the timer. Generate polls its job
(:class:`~.takes.Generation`); Controls from Text and Refresh from Server derive from
:class:`ServerOperator` (one :class:`~.io.tasks.NetworkTask` each). The bundled server is
started and watched by ``bpy.app.timers`` whose health checks also run in worker threads
(:mod:`.io.server_process`). Scripts that want to wait use ``batch.py``.
"""

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import bpy
from bpy.props import EnumProperty
from bpy.types import Operator

from . import nla_controls, nla_layout, preferences, take_store, takes
from .io import curves as io_curves, mapping, vocabulary
from .io.errors import CafeTalkError
from .io.server_process import INSTALLER, SERVER
from .io.tasks import NetworkTask

MODES = (("NEW", "Generate", "New take from the panel's audio and emotion and the control strips"),
         ("REGENERATE", "Regenerate", "New take of the active take's audio with the edited control strips"),
         ("SPAN", "Regenerate span", "Regenerate only inside the selected control strip's span (inpainting)"))

_ACTIVE: dict[str, Any] = {"generation": None}  # the running Generate (Cancel button); server calls by class name


def _redraw(context: Any = None) -> None:
    wm = bpy.context.window_manager
    for window in getattr(wm, "windows", []):
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "NLA_EDITOR", "SEQUENCE_EDITOR"):
                area.tag_redraw()


def report_failure(op: Any, context: Any, exc: CafeTalkError) -> set[str]:
    """The one way a failure reaches the artist: status line, ERROR report, ``CANCELLED``."""
    if context.scene is not None and hasattr(context.scene, "cafetalk"):
        context.scene.cafetalk.status = str(exc)
    op.report({"ERROR"}, str(exc))
    return {"CANCELLED"}


class ReportingOperator(Operator):
    """Base of the thin operators: ``run`` returns the INFO line (or ``None``) or raises CafeTalkError."""

    bl_idname = "cafetalk.reporting_base"  # never registered
    bl_label = "CafeTalk"

    def run(self, context: Any) -> str | None:
        raise NotImplementedError

    def execute(self, context: Any) -> set[str]:
        try:
            message = self.run(context)
        except CafeTalkError as exc:
            return report_failure(self, context, exc)
        if message:
            self.report({"INFO"}, message)
        return {"FINISHED"}


def poll_generation(context: Any, generation: takes.Generation) -> str:
    """What the modal operator does on each TIMER event: poll the job, show its progress; return its state.

    When the job is over the take is written (by :meth:`takes.Generation.poll`) and the
    panel leaves its running state.
    """
    props = context.scene.cafetalk
    state = generation.poll(context.scene)
    props.progress = generation.progress
    props.status = f"{generation.job_state} {generation.progress * 100:.0f}%"
    if state != "running":
        props.running = False
        props.status = {"done": f"take {getattr(generation.action, 'name', '')} written",
                        "cancelled": "cancelled"}.get(state, generation.error or state)
        if _ACTIVE.get("generation") is generation:
            _ACTIVE["generation"] = None
    _redraw(context)
    return state


class CAFETALK_OT_generate(Operator):
    """Modal timer operator: ``execute`` starts the job and returns at once; the take is written in ``modal``.

    ``UNDO`` without ``REGISTER``: the one undo step is pushed when ``modal`` returns
    ``FINISHED``, i.e. when the take is written; not registered, so Adjust Last Operation and
    Repeat Last cannot re-run an hour-long job behind the artist's back.
    """

    bl_idname = "cafetalk.generate"
    bl_label = "Generate"
    bl_description = "Generate a new take of shape-key animation from the audio and the controls"
    bl_options = {"UNDO"}

    mode: EnumProperty(name="Mode", items=MODES, default="NEW", description="What to generate")

    _timer: Any = None
    _generation: takes.Generation | None = None

    @classmethod
    def poll(cls, context: Any) -> bool:
        return context.scene is not None and not context.scene.cafetalk.running

    @classmethod
    def description(cls, context: Any, properties: Any) -> str:
        return dict((m[0], m[2]) for m in MODES)[properties.mode]

    def execute(self, context: Any) -> set[str]:
        try:
            self._generation = takes.Generation.start(context.scene, takes.client_for(context), self.mode)
        except CafeTalkError as exc:
            return report_failure(self, context, exc)
        _ACTIVE["generation"] = self._generation
        props = context.scene.cafetalk
        props.running, props.progress, props.status = True, 0.0, "submitting"
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.2, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: Any, event: Any) -> set[str]:
        generation = self._generation
        if generation is None:
            return {"CANCELLED"}
        if event.type == "ESC" and event.value == "PRESS":
            generation.cancel()  # the worker tells the server; the next TIMER sees "cancelled"
            context.scene.cafetalk.status = "cancelling"
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        try:
            state = poll_generation(context, generation)
        except Exception:  # a bug below: end cleanly (timer, Generate button), then let Blender show it
            self.cancel(context)
            raise
        if state == "running":
            return {"PASS_THROUGH"}
        self._remove_timer(context)
        if state == "failed":
            return report_failure(self, context, CafeTalkError(generation.error or "generation failed"))
        if state == "cancelled":
            self.report({"WARNING"}, "generation cancelled")
            return {"CANCELLED"}
        for w in generation.warnings:
            self.report({"WARNING"}, w)
        self.report({"INFO"}, context.scene.cafetalk.status)
        return {"FINISHED"}

    def cancel(self, context: Any) -> None:
        """Blender ends the operator (file load, window closed): stop the job, always remove the timer."""
        if self._generation is not None:
            self._generation.cancel()
        self._remove_timer(context)
        if context.scene is not None and hasattr(context.scene, "cafetalk"):
            context.scene.cafetalk.running = False
        _ACTIVE["generation"] = None

    def _remove_timer(self, context: Any) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None


class CAFETALK_OT_cancel(Operator):
    bl_idname = "cafetalk.cancel"
    bl_label = "Cancel"
    bl_description = "Cancel the running generation (also: Esc)"

    def execute(self, context: Any) -> set[str]:
        generation = _ACTIVE.get("generation")
        if generation is None:
            context.scene.cafetalk.running = False  # stale flag from a crashed session
            return {"CANCELLED"}
        generation.cancel()
        context.scene.cafetalk.status = "cancelling"
        return {"FINISHED"}


@dataclass
class ServerCall:
    """One server call of a :class:`ServerOperator`: the task in its thread, and what to do with its
    answer on the main thread (``apply(result) -> (INFO line, warnings)``, may raise CafeTalkError)."""

    task: NetworkTask
    apply: Callable[[Any], tuple[str, list[str]]]
    state: str = "running"
    message: str = ""
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def poll_call(context: Any, call: ServerCall) -> str:
    """What a :class:`ServerOperator` does on each TIMER event: once the task is over, apply its result
    (main thread) and set the panel's status line; return the call's state.

    Tests call it in a loop, as they do :func:`poll_generation` (the bpy module has no event loop).
    """
    if call.state != "running" or call.task.state == "running":
        return call.state
    if call.task.state == "done":
        try:
            call.message, call.warnings = call.apply(call.task.result)
            call.state = "done"
        except CafeTalkError as exc:
            call.state, call.error = "failed", str(exc)
    elif call.task.state == "failed":
        call.state, call.error = "failed", call.task.error
    else:
        call.state = "cancelled"
    props = getattr(context.scene, "cafetalk", None)
    if props is not None:
        props.status = {"done": call.message, "cancelled": f"{call.task.what}: cancelled"}.get(call.state, call.error or "")
    for name, active in list(_ACTIVE.items()):
        if active is call:
            _ACTIVE[name] = None
    _redraw(context)
    return call.state


class ServerOperator(Operator):
    """Base of the operators that ask the server one thing: the modal timer template around a :class:`ServerCall`.

    ``begin`` reads the scene on the main thread (raising CafeTalkError for bad input) and returns
    the call, whose task is already running; nothing else here blocks.
    """

    bl_idname = "cafetalk.server_base"  # never registered
    bl_label = "CafeTalk"

    _timer: Any = None
    _call: ServerCall | None = None

    def begin(self, context: Any) -> ServerCall:
        raise NotImplementedError

    def execute(self, context: Any) -> set[str]:
        try:
            self._call = self.begin(context)
        except CafeTalkError as exc:
            return report_failure(self, context, exc)
        _ACTIVE[type(self).__name__] = self._call
        context.scene.cafetalk.status = f"{self._call.task.what}: waiting for the server (Esc cancels)"
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: Any, event: Any) -> set[str]:
        call = self._call
        if call is None:
            return {"CANCELLED"}
        if event.type == "ESC" and event.value == "PRESS":
            call.task.cancel()
            poll_call(context, call)
            self._remove_timer(context)
            self.report({"WARNING"}, f"{call.task.what}: cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = poll_call(context, call)
        if state == "running":
            return {"PASS_THROUGH"}
        self._remove_timer(context)
        if state != "done":
            return report_failure(self, context, CafeTalkError(call.error or state))
        for w in call.warnings:
            self.report({"WARNING"}, w)
        self.report({"INFO"}, call.message)
        return {"FINISHED"}

    def cancel(self, context: Any) -> None:
        """Blender ends the operator (file load, window closed): drop the call, always remove the timer."""
        if self._call is not None:
            self._call.task.cancel()
            if _ACTIVE.get(type(self).__name__) is self._call:
                _ACTIVE[type(self).__name__] = None
        self._remove_timer(context)

    def _remove_timer(self, context: Any) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None


class _NeedsTarget:
    @classmethod
    def poll(cls, context: Any) -> bool:
        obj = context.scene.cafetalk.target if context.scene else None
        return obj is not None and getattr(obj.data, "shape_keys", None) is not None


class CAFETALK_OT_add_control(_NeedsTarget, ReportingOperator):
    bl_idname = "cafetalk.add_control"
    bl_label = "Add Control Strip"
    bl_description = "Add a control strip (the panel's action, the emotion, or head motion) at the current frame"
    bl_options = {"REGISTER", "UNDO"}

    kind: EnumProperty(name="Kind", default="FINE", description="What the new strip controls",
                       items=(("FINE", "Action", "A fine control (AU-like action)"),
                              ("EMOTION", "Emotion", "An emotion span"),
                              ("HEAD", "Head motion", "A span with its own head-motion amount")))

    def run(self, context: Any) -> str:
        scene, props = context.scene, context.scene.cafetalk
        key, start = takes.target_key(scene), float(scene.frame_current)
        end = start + props.new_length
        if self.kind == "HEAD":
            strip = nla_controls.add_head_strip(key, start, end, props.new_head_amount)
        else:
            kind, label = ("fine", props.new_action) if self.kind == "FINE" else ("emotion", props.emotion)
            strip = nla_controls.add_strip(key, kind, label, start, end, props.new_intensity)
        return f"control strip {strip.name} on frames {strip.frame_start:g}-{strip.frame_end:g}"


class CAFETALK_OT_clear_controls(_NeedsTarget, ReportingOperator):
    bl_idname = "cafetalk.clear_controls"
    bl_label = "Clear Controls"
    bl_description = "Remove every control and emotion strip of the target"
    bl_options = {"REGISTER", "UNDO"}

    def run(self, context: Any) -> None:
        nla_controls.clear_controls(takes.target_key(context.scene))


class CAFETALK_OT_controls_from_text(_NeedsTarget, ServerOperator):
    """Modal: the server reads the words in a worker thread; the strips are written when it answers (Esc cancels).

    ``UNDO`` without ``REGISTER``, as Generate: one undo step for the strips, and no redo that
    would ask the server again behind the artist's back.
    """

    bl_idname = "cafetalk.controls_from_text"
    bl_label = "Controls from Text"
    bl_description = "Ask the server to turn the words into control strips (Esc cancels)"
    bl_options = {"UNDO"}

    def begin(self, context: Any) -> ServerCall:
        scene, props = context.scene, context.scene.cafetalk
        if not props.text_controls.strip():
            raise CafeTalkError("type what the face should do in 'Controls in words' first")
        _path, start, strip = takes.ensure_audio(scene)
        target, fps, seconds, text = props.target.name, takes.scene_fps(scene), takes.clip_seconds(scene, strip), \
            props.text_controls
        client = takes.client_for(context)

        def apply(reply: Any) -> tuple[str, list[str]]:
            obj = bpy.data.objects.get(target)
            if obj is None or getattr(obj.data, "shape_keys", None) is None:
                raise CafeTalkError(f"target {target!r} is gone or lost its shape keys")
            strips = nla_controls.write_controls(obj.data.shape_keys, reply, start, fps)
            return f"{len(strips)} control strips from text", [str(m) for m in reply.get("messages", []) or []]

        return ServerCall(NetworkTask("controls from text", lambda: client.controls_from_text(text, seconds)).start(),
                          apply)


class CAFETALK_OT_controls_from_take(_NeedsTarget, ReportingOperator):
    bl_idname = "cafetalk.controls_from_take"
    bl_label = "Controls from Take"
    bl_description = "Detect the actions present in the active take and make them control strips"
    bl_options = {"REGISTER", "UNDO"}

    def run(self, context: Any) -> str:
        scene = context.scene
        key = takes.target_key(scene)
        take = nla_layout.active_take(key)
        if take is None:
            raise CafeTalkError("the target has no CafeTalk take yet")
        found = io_curves.detect_actions(take_store.take_curves(take))
        start = take_store.take_meta(take).get("start_frame", scene.cafetalk.start_frame)
        strips = nla_controls.write_controls(key, {"fine": found}, start, takes.scene_fps(scene))
        return f"{len(strips)} control strips detected in {take.name}"


class CAFETALK_OT_auto_map(_NeedsTarget, ReportingOperator):
    bl_idname = "cafetalk.auto_map"
    bl_label = "Auto Map"
    bl_description = "Fill the mapping table from the preset (exact, case-insensitive, fuzzy)"
    bl_options = {"REGISTER", "UNDO"}

    def run(self, context: Any) -> str | None:
        props = context.scene.cafetalk
        key = takes.target_key(context.scene)
        rows = mapping.auto_map([kb.name for kb in key.key_blocks], props.mapping_preset)
        mapping.store(props.mapping, rows)
        missing = mapping.unmapped(rows)
        n = len(vocabulary.ARKIT_NAMES)
        line = f"{n - len(missing)} of {n} ARKit channels mapped"
        if missing:
            self.report({"WARNING"}, f"{line}; unmapped: {', '.join(missing[:8])}")
            return None
        return line


class CAFETALK_OT_refresh_info(ServerOperator):
    """Modal: ``GET /v1/info`` in a worker thread; the menus follow when it answers (Esc cancels)."""

    bl_idname = "cafetalk.refresh_info"
    bl_label = "Refresh from Server"
    bl_description = "Ask the server for its emotions, actions and frame rate (Esc cancels)"

    def begin(self, context: Any) -> ServerCall:
        client = takes.client_for(context)

        def apply(info: Any) -> tuple[str, list[str]]:
            vocabulary.update_from_server(info)
            return f"server: {len(vocabulary.action_ids_labels())} actions, {len(vocabulary.emotions())} emotions", []

        return ServerCall(NetworkTask("server vocabulary", client.info).start(), apply)


def _server_timer() -> float | None:
    nxt = SERVER.tick()
    _redraw()
    return nxt


def _installer_timer() -> float | None:
    nxt = INSTALLER.tick()
    _redraw()
    return nxt


class CAFETALK_OT_server_start(ReportingOperator):
    bl_idname = "cafetalk.server_start"
    bl_label = "Start Server"
    bl_description = "Start the bundled CafeTalk server with the chosen Python interpreter"

    def run(self, context: Any) -> None:
        prefs = preferences.get(context)
        if prefs.server_mode == "REMOTE":
            raise CafeTalkError("the preferences name a remote server: nothing to start here")
        SERVER.start(preferences.interpreter(prefs), prefs.port, preferences.user_dir(), prefs.token)
        if bpy.app.background:
            SERVER.wait()
        elif not bpy.app.timers.is_registered(_server_timer):
            bpy.app.timers.register(_server_timer, first_interval=0.1)


class CAFETALK_OT_server_stop(ReportingOperator):
    bl_idname = "cafetalk.server_stop"
    bl_label = "Stop Server"
    bl_description = "Stop the bundled server"

    def run(self, context: Any) -> None:
        SERVER.stop()


def bundled_core() -> Path | None:
    """The core shipped inside the extension zip (a wheel made by build.py)."""
    folder = Path(__file__).parent / "core"
    wheels = sorted(folder.glob("cafetalk-*.whl"))
    return wheels[-1] if wheels else None


class CAFETALK_OT_install_server_env(ReportingOperator):
    bl_idname = "cafetalk.install_server_env"
    bl_label = "Install Server Environment"
    bl_description = ("Create a Python environment next to the extension and install the bundled CafeTalk "
                      "server into it (torch included; needs internet, a few minutes)")

    def run(self, context: Any) -> str:
        core = bundled_core()
        if core is None:
            raise CafeTalkError("this build has no bundled core (core/cafetalk-*.whl): install the zip made by build.py")
        prefs = preferences.get(context)
        base = preferences.interpreter(prefs) if prefs.python_path else sys.executable
        INSTALLER.start(base, preferences.venv_python().parent.parent, core)
        if not bpy.app.timers.is_registered(_installer_timer):
            bpy.app.timers.register(_installer_timer, first_interval=0.5)
        return f"installing the server environment; log: {INSTALLER.log_path}"


classes = (CAFETALK_OT_generate, CAFETALK_OT_cancel, CAFETALK_OT_add_control, CAFETALK_OT_clear_controls,
           CAFETALK_OT_controls_from_text, CAFETALK_OT_controls_from_take, CAFETALK_OT_auto_map,
           CAFETALK_OT_refresh_info, CAFETALK_OT_server_start, CAFETALK_OT_server_stop,
           CAFETALK_OT_install_server_env)


def unregister_timers() -> None:
    for fn in (_server_timer, _installer_timer):
        if bpy.app.timers.is_registered(fn):
            bpy.app.timers.unregister(fn)
