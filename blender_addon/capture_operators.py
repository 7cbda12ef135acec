"""Import / export / head-rig operators: thin wrappers around :mod:`.capture` (no server needed)."""

from typing import Any

from bpy.props import EnumProperty, FloatProperty, StringProperty

from . import capture, head_rig, takes
from .io.vocabulary import numbered
from .operators import ReportingOperator, _NeedsTarget


class CAFETALK_OT_import_capture(_NeedsTarget, ReportingOperator):
    bl_idname = "cafetalk.import_capture"
    bl_label = "Import Capture"
    bl_description = ("Import a Live Link Face CSV, an Audio2Face JSON/CSV or Rhubarb cues (TSV/JSON) "
                      "as a new take on the target")
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="File", subtype="FILE_PATH", description="The capture file to import")
    filter_glob: StringProperty(default="*.csv;*.json;*.tsv;*.txt", options={"HIDDEN"})
    fps: FloatProperty(name="Frame rate", default=0.0, min=0.0, max=240.0,
                       description="Frame rate of the file (0: from the file; Live Link timecodes, Audio2Face exportFps; "
                                   "Rhubarb has none and gets 30)")
    placement: EnumProperty(name="Place at", default="CURRENT", description="Where the take starts in the scene",
                            items=numbered((("CURRENT", "Current frame", "The take starts at the current frame"),
                                            ("TIMECODE", "Timecode", "The take starts at its first timecode (Live Link)"))))

    def invoke(self, context: Any, event: Any) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def run(self, context: Any) -> str:
        action, warnings, notes = capture.import_capture(context.scene, self.filepath, self.fps or None, self.placement)
        for w in warnings:
            self.report({"WARNING"}, w)
        context.scene.cafetalk.status = "; ".join([f"take {action.name} imported", *notes])
        return context.scene.cafetalk.status   # one INFO report: the take, and what the reader clamped


FORMATS = (("live-link-csv", "Live Link Face CSV", "As the iPhone app writes it (Unreal's importer reads it)"),
           ("cafetalk-json", "CafeTalk JSON", "cafetalk.curves with rotations by name"),
           ("audio2face-json", "Audio2Face JSON", "exportFps / facsNames / weightMat"))


class CAFETALK_OT_export_capture(_NeedsTarget, ReportingOperator):
    bl_idname = "cafetalk.export_capture"
    bl_label = "Export Take"
    bl_description = "Write the active take, or what plays over the scene's frame range, to a file"

    filepath: StringProperty(name="File", subtype="FILE_PATH", description="Output file")
    format: EnumProperty(name="Format", items=numbered(FORMATS), default="live-link-csv", description="File format")
    source: EnumProperty(name="Source", default="TAKE", description="What is exported",
                         items=numbered((("TAKE", "Active take", "The playing take's exact curves"),
                                         ("MIX", "Evaluated mix", "Every track as it plays (influence, Fixes), scene frame range"))))

    def invoke(self, context: Any, event: Any) -> set[str]:
        if not self.filepath:
            self.filepath = "take.csv" if self.format == "live-link-csv" else "take.json"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def run(self, context: Any) -> str:
        return capture.export_capture(context.scene, self.filepath, self.source, self.format)


class CAFETALK_OT_export_gltf(_NeedsTarget, ReportingOperator):
    bl_idname = "cafetalk.export_gltf"
    bl_label = "Export glTF"
    bl_description = ("Bake what plays on the target over the scene's frame range to one action and export it "
                      "as glTF/GLB morph-target animation (Blender's glTF exporter), then check the file")

    filepath: StringProperty(name="File", subtype="FILE_PATH", description="Output .glb (or .gltf)")

    def invoke(self, context: Any, event: Any) -> set[str]:
        if not self.filepath:
            self.filepath = "take.glb"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def run(self, context: Any) -> str:
        scene = context.scene
        written = capture.export_gltf(scene, self.filepath, scene.frame_start, scene.frame_end)
        return (f"{self.filepath}: {written['keyframes']} keyframes of {len(written['target_names'])} "
                "morph-target weights")


class CAFETALK_OT_detect_head(ReportingOperator):
    bl_idname = "cafetalk.detect_head"
    bl_label = "Detect Bones"
    bl_description = "Find the head and eye bones of the head rig by name (head, Head, eye.L, LeftEye, eye_L, ...)"
    bl_options = {"REGISTER", "UNDO"}

    def run(self, context: Any) -> str:
        head, left, right = head_rig.detect_head(context.scene.cafetalk)
        return f"head {head or '-'}, eyes {left or '-'} / {right or '-'}"


class CAFETALK_OT_drive_head(_NeedsTarget, ReportingOperator):
    bl_idname = "cafetalk.drive_head"
    bl_label = "Connect Head"
    bl_description = "Make the head and eye bones (or the object) follow the takes' head and eye rotations"
    bl_options = {"REGISTER", "UNDO"}

    def run(self, context: Any) -> str:
        driven = head_rig.drive_head(takes.target_key(context.scene), context.scene.cafetalk)
        return f"{', '.join(driven)} follow the takes' rotations"


classes = (CAFETALK_OT_import_capture, CAFETALK_OT_export_capture, CAFETALK_OT_export_gltf, CAFETALK_OT_detect_head,
           CAFETALK_OT_drive_head)
