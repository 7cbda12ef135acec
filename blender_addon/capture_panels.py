"""Sidebar sections for captures and the head: panels only draw."""

from typing import Any

from bpy.types import Panel

from .panels import _CafeTalkPanel


class CAFETALK_PT_capture(_CafeTalkPanel, Panel):
    bl_label = "Import / Export"
    bl_parent_id = "CAFETALK_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Any) -> None:
        layout = self.layout
        layout.operator("cafetalk.import_capture", icon="IMPORT")
        row = layout.row(align=True)
        row.operator("cafetalk.export_capture", text="Export Take", icon="EXPORT").source = "TAKE"
        row.operator("cafetalk.export_capture", text="Export Mix", icon="EXPORT").source = "MIX"
        layout.operator("cafetalk.export_gltf", text="Export glTF (baked mix)", icon="EXPORT")


class CAFETALK_PT_head(_CafeTalkPanel, Panel):
    bl_label = "Head and Eyes"
    bl_parent_id = "CAFETALK_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Any) -> None:
        props, layout = context.scene.cafetalk, self.layout
        layout.prop(props, "head_motion", slider=True)
        row = layout.row(align=True)
        row.prop(props, "new_head_amount", slider=True)
        row.prop(props, "new_length")
        layout.operator("cafetalk.add_control", text="Add Head Motion Strip", icon="NLA_PUSHDOWN").kind = "HEAD"
        layout.prop(props, "head_rig")
        rig = props.head_rig
        if rig is not None and rig.type == "ARMATURE":
            layout.operator("cafetalk.detect_head", icon="VIEWZOOM")
            for name in ("head_bone", "left_eye_bone", "right_eye_bone"):
                layout.prop_search(props, name, rig.data, "bones")
        layout.operator("cafetalk.drive_head", icon="DRIVER")


classes = (CAFETALK_PT_capture, CAFETALK_PT_head)
