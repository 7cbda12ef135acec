"""All add-on settings of a scene, in one PropertyGroup (``scene.cafetalk``).

Every property has a name, a description and bounds; operators and panels read them here and
nowhere else. Run-time state (status line, progress) lives here too so the panel can draw it.

The emotion and the new strip's action come from the server's vocabulary, so their menus are
dynamic enums. Blender saves an enum as its item's number, which for a dynamic list is only
as stable as the list: the choice is therefore kept as its identifier in a string property
(``emotion_id``, ``new_action_id``), and the enum is a view on it (``get``/``set``).
"""

from typing import Any

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)
from bpy.types import PropertyGroup

from .io import mapping, vocabulary


def _enum_by_identifier(store: str, items_of: Any) -> dict[str, Any]:
    """``items``/``get``/``set`` of an EnumProperty whose choice lives in the string property ``store``."""
    def items(self, _context):
        return items_of(getattr(self, store))

    def get(self) -> int:
        return vocabulary.enum_number(getattr(self, store))

    def set(self, value: int) -> None:
        for ident, _name, _desc, number in items_of(getattr(self, store)):
            if number == value:
                setattr(self, store, ident)
                return
        raise ValueError(f"{store}: no item numbered {value}")

    return {"items": items, "get": get, "set": set}


def _has_shape_keys(_self, obj) -> bool:
    data = getattr(obj, "data", None)
    return obj.type == "MESH" and getattr(data, "shape_keys", None) is not None


class CAFETALK_MappingItem(PropertyGroup):
    arkit: StringProperty(name="ARKit", description="ARKit channel produced by the model")
    shape_key: StringProperty(name="Shape key", description="Shape key of the target mesh it drives (empty: unused)")
    weight: FloatProperty(name="Weight", description="Scale applied to the channel before it drives the key",
                          default=1.0, min=0.0, max=2.0)


class CAFETALK_SceneProps(PropertyGroup):
    # target + audio
    target: PointerProperty(name="Target", type=bpy.types.Object, poll=_has_shape_keys,
                            description="Mesh whose shape keys receive the takes (must have shape keys)")
    audio_source: EnumProperty(name="Audio", default="FILE", description="Where the speech comes from",
                               items=vocabulary.numbered((
                                   ("FILE", "File", "An audio file on disk, placed in the sequencer at the start frame"),
                                   ("STRIP", "Sound strip", "A sound strip of this scene's sequencer; the take starts with it"))))
    audio_path: StringProperty(name="Audio file", subtype="FILE_PATH", description="Speech audio (wav, flac, ogg, mp3)")
    sound_strip: StringProperty(name="Sound strip", description="Name of a sound strip in the sequencer")
    start_frame: IntProperty(name="Start frame", default=1, description="Scene frame where the take (and the audio) starts")
    language: StringProperty(name="Language", default="en",
                             description="Language of the speech, as a tag (en, zh, de, pt-br). The phone recogniser "
                                         "knows only English: other languages are read from the sound alone, and "
                                         "need a server model trained for them")
    # coarse control
    emotion_id: StringProperty(name="Emotion id", default="neutral",
                               description="Identifier of the take's emotion, as the server names it (what is saved)")
    emotion: EnumProperty(name="Emotion", description="Emotion of the whole take",
                          **_enum_by_identifier("emotion_id", vocabulary.emotion_enum_items))
    intensity: FloatProperty(name="Intensity", default=0.5, min=0.0, max=1.0, subtype="FACTOR",
                             description="Emotion intensity (0 = subtle, 1 = strongest)")
    text_controls: StringProperty(name="Controls in words",
                                  description="e.g. 'smile at the end, raise brows from 1 s to 2 s': becomes control strips")
    # new control strip
    new_action_id: StringProperty(name="Action id", default="AU12",
                                  description="Identifier of a new control strip's action (what is saved)")
    new_action: EnumProperty(name="Action", description="Action of a new control strip",
                             **_enum_by_identifier("new_action_id", vocabulary.action_enum_items))
    new_length: IntProperty(name="Length", default=15, min=1, soft_max=300, description="Frames of a new control strip")
    new_intensity: FloatProperty(name="Intensity", default=0.8, min=0.0, max=1.0, subtype="FACTOR",
                                 description="Intensity of a new control strip")
    new_head_amount: FloatProperty(name="Strip head motion", default=0.0, min=0.0, max=vocabulary.MAX_HEAD_MOTION,
                                   description="Head motion inside a new head-motion strip (0 = still head, 1 = as "
                                               "learned); its influence in the NLA is this / 2")
    # sampling
    steps: IntProperty(name="Steps", default=10, min=1, max=200,
                       description="Denoising steps; the shipped model was tuned at 10 (20 measured fewer lip closures)")
    seed: IntProperty(name="Seed", default=0, min=0, description="Random seed; the same seed and inputs give the same take")
    use_model_scales: BoolProperty(name="Model's scales", default=True,
                                   description="Use the guidance scales the model was tuned with (from the server)")
    audio_scale: FloatProperty(name="Lip scale", default=4.0, min=0.0, soft_max=8.0,
                               description="Classifier-free guidance of audio + emotion on jaw, mouth and tongue "
                                           "(higher: firmer lip closures, more motion)")
    face_scale: FloatProperty(name="Face scale", default=4.0, min=0.0, soft_max=8.0,
                              description="Classifier-free guidance of audio + emotion on eyes, brows, cheeks and nose")
    control_scale: FloatProperty(name="Control scale", default=1.0, min=0.0, soft_max=5.0,
                                 description="Classifier-free guidance scale of the fine controls (control strength)")
    # keys
    key_tolerance: FloatProperty(name="Key reduction", default=0.0, min=0.0, max=0.2, precision=4,
                                 description="Largest error allowed when dropping keys (0 = a key on every frame)")
    interpolation: EnumProperty(name="Interpolation", default="LINEAR", description="Interpolation of the written keys",
                                items=vocabulary.numbered((
                                    ("LINEAR", "Linear", "Straight lines between keys (exact with key reduction)"),
                                    ("BEZIER", "Bezier", "Smooth auto-clamped curves, easier to edit by hand"))))
    # mapping
    mapping_preset: EnumProperty(name="Preset", items=vocabulary.numbered(mapping.PRESETS), default="AUTO",
                                 description="How ARKit names are matched to shape keys")
    mapping: CollectionProperty(type=CAFETALK_MappingItem, name="Mapping",
                                description="ARKit channel -> shape key rows used when a take is written")
    mapping_index: IntProperty(name="Row", default=0, min=0, description="Selected row of the mapping table")
    # head and eyes
    head_motion: FloatProperty(name="Head motion", default=1.0, min=0.0, max=vocabulary.MAX_HEAD_MOTION,
                               subtype="FACTOR",
                               description="How much the generated head moves outside head-motion strips "
                                           "(0 = a still head, 1 = natural)")
    head_rig: PointerProperty(name="Head rig", type=bpy.types.Object,
                              description="Armature with head/eye bones, or an object that turns as the head")
    head_bone: StringProperty(name="Head bone", description="Bone that turns with HeadYaw/Pitch/Roll")
    left_eye_bone: StringProperty(name="Left eye bone", description="Bone of the subject's left eye")
    right_eye_bone: StringProperty(name="Right eye bone", description="Bone of the subject's right eye")
    # run-time state (drawn by the panel)
    running: BoolProperty(name="Running", default=False, options={"SKIP_SAVE"},
                          description="A generation is running (the Generate buttons wait for it)")
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR", options={"SKIP_SAVE"},
                            description="Progress of the running generation, as the server reports it")
    status: StringProperty(name="Status", default="", description="Last message of the add-on (errors name the field and value)")


classes = (CAFETALK_MappingItem, CAFETALK_SceneProps)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.cafetalk = PointerProperty(type=CAFETALK_SceneProps)


def unregister() -> None:
    del bpy.types.Scene.cafetalk
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
