"""The "CafeTalk" tab of the 3D viewport sidebar. Panels only draw; one class per section."""

from typing import Any

from bpy.types import Panel, UIList

from . import nla_controls, nla_layout, preferences
from .io import vocabulary
from .io.server_process import INSTALLER, SERVER


class _CafeTalkPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "CafeTalk"


class CAFETALK_UL_mapping(UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        row.label(text=item.arkit)
        key = getattr(data.target.data, "shape_keys", None) if data.target else None
        if key is not None:
            row.prop_search(item, "shape_key", key, "key_blocks", text="")
        else:
            row.prop(item, "shape_key", text="")
        row.prop(item, "weight", text="")


class CAFETALK_PT_main(_CafeTalkPanel, Panel):
    bl_idname = "CAFETALK_PT_main"
    bl_label = "CafeTalk"

    def draw(self, context: Any) -> None:
        props = context.scene.cafetalk
        col = self.layout.column(align=True)
        if props.running:
            col.prop(props, "progress", text=props.status or "working", slider=True)
            col.operator("cafetalk.cancel", icon="CANCEL")
        else:
            row = col.row(align=True)
            row.operator("cafetalk.generate", text="Generate", icon="PLAY").mode = "NEW"
            row.operator("cafetalk.generate", text="Regenerate", icon="FILE_REFRESH").mode = "REGENERATE"
            col.operator("cafetalk.generate", text="Regenerate Selected Span", icon="SEQ_STRIP_META").mode = "SPAN"
            if props.status:
                col.label(text=props.status, icon="INFO")


class CAFETALK_PT_server(_CafeTalkPanel, Panel):
    bl_label = "Server"
    bl_parent_id = "CAFETALK_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Any) -> None:
        prefs = preferences.get(context)
        layout = self.layout
        layout.label(text=f"{prefs.server_mode.title()}: {preferences.server_url(prefs)}")
        if prefs.server_mode == "BUNDLED":
            icon = {"running": "CHECKMARK", "external": "CHECKMARK", "failed": "ERROR"}.get(SERVER.state, "TIME")
            layout.label(text=f"State: {SERVER.state}", icon=icon)
            if SERVER.message:
                layout.label(text=SERVER.message)
            row = layout.row(align=True)
            row.operator("cafetalk.server_start", icon="PLAY")
            row.operator("cafetalk.server_stop", icon="PAUSE")
            layout.operator("cafetalk.install_server_env", icon="IMPORT")
            if INSTALLER.state != "idle":
                layout.label(text=f"Install: {INSTALLER.state} {INSTALLER.message}")
        layout.operator("cafetalk.refresh_info", icon="URL")


class CAFETALK_PT_input(_CafeTalkPanel, Panel):
    bl_label = "Target and Audio"
    bl_parent_id = "CAFETALK_PT_main"

    def draw(self, context: Any) -> None:
        props, layout = context.scene.cafetalk, self.layout
        layout.prop(props, "target")
        layout.prop(props, "audio_source", expand=True)
        if props.audio_source == "FILE":
            layout.prop(props, "audio_path")
            layout.prop(props, "start_frame")
        elif context.scene.sequence_editor is not None:
            se = context.scene.sequence_editor
            layout.prop_search(props, "sound_strip", se, "strips_all" if hasattr(se, "strips_all") else "sequences_all")
        else:
            layout.label(text="The sequencer has no strips", icon="ERROR")
        layout.prop(props, "language")
        if not vocabulary.is_english(props.language) and vocabulary.server_takes_other_languages() is False:
            layout.label(text="The server's model reads English only", icon="ERROR")


class CAFETALK_PT_emotion(_CafeTalkPanel, Panel):
    bl_label = "Emotion"
    bl_parent_id = "CAFETALK_PT_main"

    def draw(self, context: Any) -> None:
        props, layout = context.scene.cafetalk, self.layout
        layout.prop(props, "emotion")
        layout.prop(props, "intensity", slider=True)
        layout.operator("cafetalk.add_control", text="Add Emotion Strip", icon="NLA_PUSHDOWN").kind = "EMOTION"


class CAFETALK_PT_controls(_CafeTalkPanel, Panel):
    bl_label = "Fine Controls"
    bl_parent_id = "CAFETALK_PT_main"

    def draw(self, context: Any) -> None:
        props, layout = context.scene.cafetalk, self.layout
        layout.prop(props, "text_controls", text="")
        layout.operator("cafetalk.controls_from_text", icon="SYNTAX_ON")
        row = layout.row(align=True)
        row.prop(props, "new_action", text="")
        row.prop(props, "new_length")
        layout.prop(props, "new_intensity", slider=True)
        row = layout.row(align=True)
        row.operator("cafetalk.add_control", icon="ADD").kind = "FINE"
        row.operator("cafetalk.controls_from_take", icon="EYEDROPPER")
        row.operator("cafetalk.clear_controls", text="", icon="TRASH")
        key = getattr(props.target.data, "shape_keys", None) if props.target else None
        anim = key.animation_data if key else None
        if anim is None:
            return
        box = layout.box()
        for track in anim.nla_tracks:
            if track.name.startswith((nla_controls.CONTROLS_TRACK, nla_controls.EMOTIONS_TRACK)):
                value = nla_controls.strip_intensity
            elif track.name.startswith(nla_controls.HEAD_TRACK):
                value = nla_controls.strip_head_amount
            else:
                continue
            for strip in track.strips:
                box.label(text=f"{strip.name}: {strip.frame_start:g}-{strip.frame_end:g} @ {value(strip):.2f}",
                          icon="HIDE_ON" if strip.mute else ("RESTRICT_SELECT_OFF" if strip.select else "NLA"))


class CAFETALK_PT_sampling(_CafeTalkPanel, Panel):
    bl_label = "Sampling and Keys"
    bl_parent_id = "CAFETALK_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Any) -> None:
        props, layout = context.scene.cafetalk, self.layout
        layout.prop(props, "steps")
        layout.prop(props, "seed")
        layout.prop(props, "use_model_scales")
        col = layout.column(align=True)
        col.enabled = not props.use_model_scales
        col.prop(props, "audio_scale")
        col.prop(props, "face_scale")
        col.prop(props, "control_scale")
        layout.prop(props, "key_tolerance")
        layout.prop(props, "interpolation")


class CAFETALK_PT_takes(_CafeTalkPanel, Panel):
    bl_label = "Takes"
    bl_parent_id = "CAFETALK_PT_main"

    def draw(self, context: Any) -> None:
        props, layout = context.scene.cafetalk, self.layout
        key = getattr(props.target.data, "shape_keys", None) if props.target else None
        anim = key.animation_data if key else None
        tracks = nla_layout.take_tracks(anim) if anim else []
        if not tracks:
            layout.label(text="No takes yet")
        for track in reversed(tracks):
            row = layout.row(align=True)
            row.prop(track, "mute", text="", invert_checkbox=True, icon="CHECKBOX_HLT" if not track.mute else "CHECKBOX_DEHLT")
            row.label(text=track.name[len(nla_layout.TAKE_TRACK_PREFIX):])
            key_point = nla_layout.influence_key(track.strips[0]) if track.strips else None
            if key_point is not None:  # the influence Blender evaluates is this key's value
                row.prop(key_point, "co_ui", index=1, text="Influence", slider=True)
            elif track.strips:
                row.label(text="influence animated (NLA sidebar)")


class CAFETALK_PT_mapping(_CafeTalkPanel, Panel):
    bl_label = "Mapping"
    bl_parent_id = "CAFETALK_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Any) -> None:
        props, layout = context.scene.cafetalk, self.layout
        row = layout.row(align=True)
        row.prop(props, "mapping_preset", text="")
        row.operator("cafetalk.auto_map", icon="LINKED")
        unmapped = sum(1 for m in props.mapping if not m.shape_key)
        if props.mapping:
            layout.label(text=f"{len(props.mapping) - unmapped} mapped, {unmapped} unmapped")
        layout.template_list("CAFETALK_UL_mapping", "", props, "mapping", props, "mapping_index", rows=6)


classes = (CAFETALK_UL_mapping, CAFETALK_PT_main, CAFETALK_PT_server, CAFETALK_PT_input, CAFETALK_PT_emotion,
           CAFETALK_PT_controls, CAFETALK_PT_sampling, CAFETALK_PT_takes, CAFETALK_PT_mapping)
