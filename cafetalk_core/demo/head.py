"""A demo head made by code: skin, lips, mouth, teeth, tongue, eyes, lids, brows, 52 ARKit keys.

Over 400 lines because the geometry and the 52 shape keys are one model of one face: every key is a
short displacement function over the same rest positions, and they are checked against each other.

Why procedural: a user must see the product work minutes after cloning, without owning a rig,
and the project ships no downloaded asset. The geometry and every shape key are plain numpy
(:func:`build_head_geometry`), so they can be read and checked without Blender;
:func:`build_demo_head` turns them into one mesh object (one mesh, so the add-on's
``take_store.write_take`` drives the eyes, tongue and teeth through the same shape keys).

How the face is laid out: the skin is a sphere whose *pole is the mouth*. Rings around the
mouth are ellipses in "face coordinates" ``T = (tx, tz)`` (an azimuthal-equidistant map, in
radians, centred on the mouth: +tx is the subject's left, +tz is up) that become circles away
from the mouth and close at the back of the head. The innermost rings are the lips, so the
mouth opening is the mesh's hole and ``jawOpen`` only has to rotate the lower half. Features
(nose, sockets, brow ridge, chin) are bumps along the normal placed in face coordinates; every
shape key is a displacement field over the rest positions with smooth falloffs.

Axes: the head faces -Y (Blender's front view), +Z is up, the subject's left is +X.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

# --- proportions (scene units; the head is about 2 units tall) ---------------------------------
RADII = np.array([0.82, 0.88, 1.0])        # ellipsoid half-width, half-depth, half-height
MOUTH_TILT = math.radians(28.0)            # the mouth lies this far below the head's equator
MOUTH_HALF_WIDTH = 0.21                    # radians of face coordinates
EYE_T = (0.34, 0.72)                       # left eye centre in face coordinates
EYE_RADIUS = 0.12
EYE_DEPTH = 0.045                          # eyeball centre below the skin surface
JAW_PIVOT = np.array([0.0, 0.12, -0.05])   # roughly the temporomandibular joint
JAW_OPEN_ANGLE = 0.30                      # radians at jawOpen = 1
SEGMENTS = 64                              # vertices around each ring

# material slots: (name, RGBA)
MATERIALS: tuple[tuple[str, tuple[float, float, float, float]], ...] = (
    ("CT_Skin", (0.80, 0.58, 0.46, 1.0)),
    ("CT_Lips", (0.62, 0.26, 0.24, 1.0)),
    ("CT_MouthInside", (0.10, 0.02, 0.03, 1.0)),
    ("CT_Teeth", (0.93, 0.91, 0.84, 1.0)),
    ("CT_Tongue", (0.72, 0.28, 0.32, 1.0)),
    ("CT_EyeWhite", (0.95, 0.95, 0.93, 1.0)),
    ("CT_Iris", (0.20, 0.40, 0.62, 1.0)),
    ("CT_Pupil", (0.02, 0.02, 0.02, 1.0)),
    ("CT_Lids", (0.74, 0.50, 0.40, 1.0)),
    ("CT_Lashes", (0.08, 0.05, 0.04, 1.0)),
    ("CT_Brows", (0.22, 0.13, 0.08, 1.0)),
)
MAT = {name: i for i, (name, _) in enumerate(MATERIALS)}

# part ids (which displacement fields apply to a vertex)
SKIN, EYEBALL, IRIS, LID_UP, LID_LOW, BROW, TEETH_UP, TEETH_LOW, TONGUE, MOUTH_BAG, NECK, EAR = range(12)

# lid edges (degrees of elevation around the eye centre): rest, and per shape
LID_UP_EDGE, LID_LOW_EDGE, LID_UP_TOP, LID_LOW_BOTTOM = 22.0, -28.0, 86.0, -86.0


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    """0 at ``e0``, 1 at ``e1`` (either order), cubic in between."""
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def gauss(T: np.ndarray, cx: float, cz: float, sx: float, sz: float) -> np.ndarray:
    return np.exp(-(((T[:, 0] - cx) / sx) ** 2) - (((T[:, 1] - cz) / sz) ** 2))


# --- the mouth-centred frame -------------------------------------------------------------------
_M = np.array([0.0, -math.cos(MOUTH_TILT), -math.sin(MOUTH_TILT)])  # unit direction to the mouth
_EX = np.array([1.0, 0.0, 0.0])                                      # subject's left
_EUP = np.cross(_M, _EX)                                            # up along the face
X_AXIS, Y_AXIS, Z_AXIS = np.eye(3)
FORWARD = -Y_AXIS
BACK = Y_AXIS


def directions(T: np.ndarray) -> np.ndarray:
    """Unit directions for face coordinates (azimuthal-equidistant around the mouth)."""
    rho = np.hypot(T[:, 0], T[:, 1])
    safe = np.where(rho > 1e-12, rho, 1.0)
    tang = (T[:, :1] * _EX + T[:, 1:] * _EUP) / safe[:, None]
    return np.cos(rho)[:, None] * _M + np.sin(rho)[:, None] * tang


def face_coords(P: np.ndarray) -> np.ndarray:
    """Inverse of :func:`directions` for any point (through the ellipsoid's scaling)."""
    d = P / RADII
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    c = np.clip(d @ _M, -1.0, 1.0)
    rho = np.arccos(c)
    tang = d - c[:, None] * _M
    n = np.linalg.norm(tang, axis=1)
    n = np.where(n > 1e-12, n, 1.0)
    return np.stack([rho * (tang @ _EX) / n, rho * (tang @ _EUP) / n], axis=1)


def ellipsoid(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points on the head ellipsoid and their outward normals."""
    d = directions(T)
    normal = d / RADII
    return d * RADII, normal / np.linalg.norm(normal, axis=1, keepdims=True)


def feature_bumps(T: np.ndarray) -> np.ndarray:
    """Height along the normal of nose, sockets, brow ridge, cheekbones, chin and muzzle."""
    tx, tz = T[:, 0], T[:, 1]
    along = np.clip((0.62 - tz) / 0.32, 0.0, 1.0)           # 0 at the bridge, 1 at the tip
    width = 0.045 + 0.035 * along
    nose = (0.02 + 0.13 * along ** 1.4) * np.exp(-((tx / width) ** 2))
    nose *= np.where(tz < 0.30, np.exp(-(((0.30 - tz) / 0.045) ** 2)), 1.0)
    nose *= np.where(tz > 0.62, np.exp(-(((tz - 0.62) / 0.12) ** 2)), 1.0)
    wings = 0.05 * (gauss(T, 0.075, 0.31, 0.045, 0.04) + gauss(T, -0.075, 0.31, 0.045, 0.04))
    h = nose + wings
    for side in (1.0, -1.0):
        h += -0.05 * gauss(T, side * EYE_T[0], EYE_T[1], 0.14, 0.12)          # socket
        h += 0.035 * gauss(T, side * 0.34, 0.90, 0.26, 0.07)                  # brow ridge
        h += 0.03 * gauss(T, side * 0.42, 0.42, 0.16, 0.14)                   # cheekbone
    h += 0.045 * gauss(T, 0.0, -0.34, 0.15, 0.09)                             # chin
    h += 0.04 * gauss(T, 0.0, 0.0, 0.36, 0.26)                                # muzzle
    return h


def skin_point(T: np.ndarray, extra: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Skin surface (without lips) at face coordinates, lifted by ``extra`` along the normal."""
    p, n = ellipsoid(T)
    return p + n * (feature_bumps(T) + extra)[:, None], n


def taper(P: np.ndarray) -> np.ndarray:
    """Narrow the lower face into a jaw line (applied to every part so they stay together)."""
    t = np.clip(-P[:, 2] / 1.0, 0.0, 1.0)
    out = P.copy()
    out[:, 0] *= 1.0 - 0.24 * t * t
    return out


# --- mesh assembly -------------------------------------------------------------------------------
@dataclass
class HeadGeometry:
    """Everything :func:`build_demo_head` needs, as numpy: rest mesh and per-key deltas."""

    verts: np.ndarray                      # (N, 3) rest positions
    faces: list[tuple[int, ...]]
    face_materials: np.ndarray             # (F,) index into MATERIALS
    part: np.ndarray                       # (N,) part id
    T: np.ndarray                          # (N, 2) face coordinates
    attrs: dict[str, np.ndarray] = field(default_factory=dict)
    shape_deltas: dict[str, np.ndarray] = field(default_factory=dict)


ATTR_DIMS: dict[str, tuple[int, ...]] = {"s": (), "theta": (), "T": (2,), "slit": (3,), "eye": (4,), "lid": (3,)}


class _Builder:
    """Accumulates parts (vertices, faces, materials, per-vertex attributes; NaN where absent)."""

    def __init__(self) -> None:
        self.verts: list[np.ndarray] = []
        self.faces: list[tuple[int, ...]] = []
        self.mats: list[int] = []
        self.part: list[np.ndarray] = []
        self.attrs: dict[str, list[np.ndarray]] = {k: [] for k in ATTR_DIMS}
        self.n = 0

    def add(self, part: int, verts: np.ndarray, faces: Sequence[tuple[int, ...]], mats: Sequence[int] | int,
            **attrs: np.ndarray) -> int:
        unknown = set(attrs) - set(ATTR_DIMS)
        if unknown:
            raise KeyError(f"unknown vertex attributes {sorted(unknown)}")
        base = self.n
        self.verts.append(np.asarray(verts, dtype=np.float64))
        self.part.append(np.full(len(verts), part))
        mats = [mats] * len(faces) if isinstance(mats, int) else list(mats)
        self.faces.extend(tuple(base + i for i in f) for f in faces)
        self.mats.extend(mats)
        for key, dims in ATTR_DIMS.items():
            v = attrs.get(key)
            self.attrs[key].append(np.asarray(v, dtype=np.float64).reshape((len(verts),) + dims) if v is not None
                                   else np.full((len(verts),) + dims, np.nan))
        self.n += len(verts)
        return base


def _grid_faces(rows: int, cols: int, wrap: bool) -> list[tuple[int, int, int, int]]:
    """Quads of a rows x cols vertex grid (row-major), wrapping the columns if ``wrap``."""
    faces = []
    last = cols if wrap else cols - 1
    for r in range(rows - 1):
        for c in range(last):
            c2 = (c + 1) % cols
            faces.append((r * cols + c, r * cols + c2, (r + 1) * cols + c2, (r + 1) * cols + c))
    return faces


def _orient_outward(verts: np.ndarray, faces: list[tuple[int, ...]], inside: np.ndarray) -> list[tuple[int, ...]]:
    """Flip the winding if most faces point towards ``inside`` (consistent normals shade well)."""
    score = 0.0
    for f in faces[:: max(1, len(faces) // 50)]:
        a, b, c = verts[f[0]], verts[f[1]], verts[f[2]]
        score += float(np.dot(np.cross(b - a, c - a), a - inside))
    return faces if score >= 0 else [tuple(reversed(f)) for f in faces]


def _sphere_patch(center: np.ndarray, radii: np.ndarray, polar: np.ndarray, n_az: int,
                  tip: bool, bottom: bool) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Rings at ``polar`` angles from the -Y axis (closed around), with optional pole vertices."""
    az = np.linspace(0, 2 * np.pi, n_az, endpoint=False)
    pp, aa = np.meshgrid(polar, az, indexing="ij")
    local = np.stack([np.sin(pp) * np.cos(aa), -np.cos(pp), np.sin(pp) * np.sin(aa)], axis=-1).reshape(-1, 3)
    verts = [local]
    faces = _grid_faces(len(polar), n_az, wrap=True)
    count = len(local)
    if tip:
        verts.append(np.array([[0.0, -1.0, 0.0]]))
        faces += [(count, (c + 1) % n_az, c) for c in range(n_az)]
        count += 1
    if bottom:
        verts.append(np.array([[0.0, 1.0, 0.0]]))
        last = (len(polar) - 1) * n_az
        faces += [(count, last + c, last + (c + 1) % n_az) for c in range(n_az)]
    v = np.concatenate(verts) * radii + center
    return v, _orient_outward(v, faces, center)


def _lid_point(center: np.ndarray, radius: float, el_deg: np.ndarray, az_deg: np.ndarray) -> np.ndarray:
    el, az = np.radians(el_deg), np.radians(az_deg)
    d = np.stack([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), np.sin(el)], axis=-1)
    return center + radius * d


def _lid_elevation(frac: np.ndarray, edge: float, far: float) -> np.ndarray:
    return edge + (far - edge) * frac


def _ring_shape(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Semi-axes of the ring at level ``s``: a slit of the mouth's width that grows into circles."""
    return s + MOUTH_HALF_WIDTH * np.exp(-s / 0.3), s.copy()


LIP_LEVELS = np.array([0.0, 0.018, 0.036, 0.054, 0.072])
LIP_PROFILE_S = np.array([0.0, 0.018, 0.036, 0.054, 0.072, 0.09, 0.11, 0.14])
LIP_PROFILE_H = np.array([0.016, 0.034, 0.045, 0.046, 0.036, 0.018, 0.006, 0.0])


def _skin_levels() -> np.ndarray:
    near = np.array([0.09, 0.11, 0.135, 0.165, 0.2, 0.24])
    mid = np.arange(0.275, 1.25, 0.035)
    far = np.arange(1.33, math.pi - 0.06, 0.09)
    return np.concatenate([LIP_LEVELS, near, mid, far])


def _add_skin(b: _Builder) -> dict[str, Any]:
    levels = _skin_levels()
    theta = np.linspace(0, 2 * np.pi, SEGMENTS, endpoint=False)
    a, c = _ring_shape(levels)
    S, TH = np.meshgrid(levels, theta, indexing="ij")
    A, C = np.meshgrid(a, theta, indexing="ij")[0], np.meshgrid(c, theta, indexing="ij")[0]
    T = np.stack([A * np.cos(TH), C * np.sin(TH)], axis=-1).reshape(-1, 2)
    s_flat, th_flat = S.reshape(-1), TH.reshape(-1)
    lower = np.sin(th_flat) < 0
    lip_h = np.interp(s_flat, LIP_PROFILE_S, LIP_PROFILE_H) * np.where(lower, 1.2, 1.0)
    P, N = skin_point(T, lip_h)
    # the inner lip ring: behind the slit, so an open mouth shows lips with thickness
    T_in = T[:SEGMENTS] * np.array([0.93, 1.0])
    P_in, _ = skin_point(T_in, 0.0)
    P_in = P_in - N[:SEGMENTS] * 0.075
    pole = (-_M * RADII)[None, :]
    verts = np.concatenate([P_in, P, pole])
    rows = len(levels) + 1
    faces = _grid_faces(rows, SEGMENTS, wrap=True)
    pole_i = rows * SEGMENTS
    last = (rows - 1) * SEGMENTS
    faces += [(last + c, pole_i, last + (c + 1) % SEGMENTS) for c in range(SEGMENTS)]
    faces = _orient_outward(verts, faces, np.zeros(3))
    lip_rows = len(LIP_LEVELS)  # rows 0..lip_rows are lips (inner ring + lip levels)
    mats = [MAT["CT_Lips"] if max(i // SEGMENTS for i in f) <= lip_rows and max(f) < pole_i else MAT["CT_Skin"]
            for f in faces]
    s_all = np.concatenate([np.full(SEGMENTS, -0.02), s_flat, [math.pi]])
    th_all = np.concatenate([theta, th_flat, [0.0]])
    T_all = np.concatenate([T_in, T, [[0.0, -math.pi]]])
    slit = np.concatenate([P[:SEGMENTS]] * (rows) + [pole])
    b.add(SKIN, verts, faces, mats, s=s_all, theta=th_all, T=T_all, slit=slit)
    return {"slit_center": P[:SEGMENTS].mean(axis=0), "mouth_normal": N[:SEGMENTS].mean(axis=0)}


def _add_eye(b: _Builder, side: float) -> None:
    Te = np.array([[side * EYE_T[0], EYE_T[1]]])
    surf, n = skin_point(Te)
    center = surf[0] - n[0] * EYE_DEPTH + np.array([0.0, 0.0, 0.0])
    polar = np.linspace(0.12, np.pi - 0.12, 14)
    v, f = _sphere_patch(center, np.full(3, EYE_RADIUS), polar, 24, tip=True, bottom=True)
    eye_attr = np.tile(np.append(center, side), (len(v), 1))
    b.add(EYEBALL, v, f, MAT["CT_EyeWhite"], eye=eye_attr)
    for radius, polar_max, mat in ((1.004, 0.46, "CT_Iris"), (1.009, 0.2, "CT_Pupil")):
        v, f = _sphere_patch(center, np.full(3, EYE_RADIUS * radius), np.linspace(0.05, polar_max, 3), 20,
                             tip=True, bottom=False)
        b.add(IRIS, v, f, MAT[mat], eye=np.tile(np.append(center, side), (len(v), 1)))
    # lids: spherical shells parameterised by (fraction from the edge, azimuth)
    n_rows, az = 8, np.linspace(-82, 82, 17)
    for part, radius, edge, far in ((LID_UP, 1.13, LID_UP_EDGE, LID_UP_TOP), (LID_LOW, 1.09, LID_LOW_EDGE, LID_LOW_BOTTOM)):
        frac = np.linspace(0, 1, n_rows) ** 1.3
        FR, AZ = np.meshgrid(frac, az, indexing="ij")
        el = _lid_elevation(FR, edge, far)
        v = _lid_point(center, EYE_RADIUS * radius, el, AZ).reshape(-1, 3)
        faces = _orient_outward(v, _grid_faces(n_rows, len(az), wrap=False), center)
        mats = [MAT["CT_Lashes"] if (part == LID_UP and min(i // len(az) for i in fc) == 0) else MAT["CT_Lids"]
                for fc in faces]
        lid = np.stack([FR.reshape(-1), AZ.reshape(-1), np.full(FR.size, radius)], axis=1)
        b.add(part, v, faces, mats, eye=np.tile(np.append(center, side), (len(v), 1)), lid=lid)


def _add_brow(b: _Builder, side: float) -> None:
    u = np.linspace(0, 1, 14)
    tx = side * (0.15 + 0.42 * u)
    tz = 0.93 + 0.045 * np.sin(np.pi * u) - 0.03 * u
    rows = []
    for off, lift in ((-0.028, 0.012), (0.0, 0.026), (0.026, 0.012)):
        thick = 1.25 - 0.6 * u
        T = np.stack([tx, tz + off * thick], axis=1)
        p, _ = skin_point(T, lift)
        rows.append(p)
    v = np.concatenate(rows)
    faces = _orient_outward(v, _grid_faces(3, len(u), wrap=False), np.zeros(3))
    b.add(BROW, v, faces, MAT["CT_Brows"])


def _add_mouth_parts(b: _Builder, slit_center: np.ndarray) -> None:
    # dark mouth cavity behind the lips
    bag_c = slit_center + BACK * 0.27 + Z_AXIS * 0.0
    v, f = _sphere_patch(bag_c, np.array([0.2, 0.19, 0.14]), np.linspace(0.15, np.pi - 0.15, 12), 24, True, True)
    b.add(MOUTH_BAG, v, f, MAT["CT_MouthInside"])
    # teeth: curved strips behind the lips
    phi = np.radians(np.linspace(-62, 62, 19))
    for part, back, top, bottom in ((TEETH_UP, 0.08, 0.05, -0.035), (TEETH_LOW, 0.092, 0.025, -0.055)):
        r = 0.16
        axis_c = slit_center + BACK * (back + r)
        rows = [axis_c + np.stack([r * np.sin(phi), -r * np.cos(phi), np.full_like(phi, z)], axis=1)
                for z in (top, (top + bottom) / 2, bottom)]
        v = np.concatenate(rows)
        b.add(part, v, _orient_outward(v, _grid_faces(3, len(phi), wrap=False), axis_c), MAT["CT_Teeth"])
    # tongue resting on the floor of the mouth
    tongue_c = slit_center + BACK * 0.19 + Z_AXIS * -0.05
    v, f = _sphere_patch(tongue_c, np.array([0.085, 0.12, 0.035]), np.linspace(0.15, np.pi - 0.15, 10), 20, True, True)
    b.add(TONGUE, v, f, MAT["CT_Tongue"])


def _add_neck_and_ears(b: _Builder) -> None:
    z = np.linspace(-0.45, -1.75, 6)
    ang = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    Z, A = np.meshgrid(z, ang, indexing="ij")
    v = np.stack([0.40 * np.cos(A), 0.16 + 0.44 * np.sin(A), Z], axis=-1).reshape(-1, 3)
    b.add(NECK, v, _orient_outward(v, _grid_faces(len(z), len(ang), True), np.array([0.0, 0.16, -1.0])), MAT["CT_Skin"])
    for side in (1.0, -1.0):
        c = np.array([side * 0.76, 0.14, 0.0])
        v, f = _sphere_patch(c, np.array([0.07, 0.15, 0.24]), np.linspace(0.3, np.pi - 0.3, 6), 12, True, True)
        b.add(EAR, v, f, MAT["CT_Skin"])


# --- shape keys ----------------------------------------------------------------------------------
def _rotate_x(P: np.ndarray, pivot: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate each point about the X axis through ``pivot`` by its own angle; return the delta."""
    q = P - pivot
    c, s = np.cos(angle), np.sin(angle)
    out = q.copy()
    out[:, 1] = q[:, 1] * c - q[:, 2] * s
    out[:, 2] = q[:, 1] * s + q[:, 2] * c
    return out + pivot - P


def _rotate_about(P: np.ndarray, pivot: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation of points about ``axis`` through ``pivot``; return the delta."""
    k = axis / np.linalg.norm(axis)
    q = P - pivot
    rot = q * math.cos(angle) + np.cross(k, q) * math.sin(angle) + np.outer(q @ k, k) * (1 - math.cos(angle))
    return rot + pivot - P


class _Fields:
    """Masks and weights shared by the shape keys, computed once from the rest geometry."""

    def __init__(self, g: HeadGeometry, mouth: dict[str, Any]) -> None:
        self.g = g
        P, part, T = g.verts, g.part, g.T
        self.P, self.part, self.T = P, part, T
        self.skin = part == SKIN
        s = np.nan_to_num(g.attrs["s"], nan=9.0)
        th = np.nan_to_num(g.attrs["theta"], nan=0.0)
        self.s = s
        sin_t = np.sin(th)
        self.upper = np.where(self.skin, smoothstep(-0.3, 0.3, sin_t), 0.0)
        self.lower = np.where(self.skin, smoothstep(0.3, -0.3, sin_t), 0.0)
        # lips and their surroundings (skin only)
        self.lip = np.where(self.skin, np.exp(-np.maximum(s - 0.072, 0) ** 2 / 0.06 ** 2), 0.0)
        self.lip_tight = np.where(self.skin, np.exp(-np.maximum(s - 0.072, 0) ** 2 / 0.03 ** 2), 0.0)
        self.inner = np.where(self.skin, np.exp(-(np.maximum(s, 0) / 0.06) ** 2), 0.0)
        self.mouth_area = np.where(self.skin, np.exp(-(np.maximum(s, 0) / 0.22) ** 2), 0.0)
        self.left = smoothstep(-0.05, 0.05, T[:, 0])
        self.right = 1.0 - self.left
        self.slit = np.where(np.isnan(g.attrs["slit"]), P, g.attrs["slit"])
        self.slit_center = mouth["slit_center"]
        # jaw: lower lip/chin by ring angle near the mouth, by height further out; not the back
        by_height = smoothstep(0.04, -0.12, T[:, 1])
        near = smoothstep(0.25, 0.1, s)
        jaw = near * self.lower + (1 - near) * by_height
        jaw *= smoothstep(0.35, 0.0, P[:, 1] - JAW_PIVOT[1])
        bag_low = smoothstep(0.0, -0.08, P[:, 2] - self.slit_center[2])
        jaw = np.where(self.skin, jaw, 0.0)
        jaw = np.where(part == MOUTH_BAG, bag_low, jaw)
        jaw = np.where(np.isin(part, (TEETH_LOW, TONGUE)), 1.0, jaw)
        self.jaw = jaw
        self.face = np.isin(part, (SKIN, BROW))
        eye = g.attrs["eye"]
        self.eye_center = eye[:, :3]
        self.eye_side = np.nan_to_num(eye[:, 3], nan=0.0)

    def vec(self, w: np.ndarray, direction: np.ndarray) -> np.ndarray:
        return w[:, None] * np.asarray(direction, dtype=np.float64)[None, :]

    def corner(self, side: float, sx: float = 0.11, sz: float = 0.1) -> np.ndarray:
        return np.where(self.skin, gauss(self.T, side * MOUTH_HALF_WIDTH, 0.0, sx, sz), 0.0)

    def region(self, cx: float, cz: float, sx: float, sz: float, parts: tuple[int, ...] = (SKIN, BROW)) -> np.ndarray:
        return np.where(np.isin(self.part, parts), gauss(self.T, cx, cz, sx, sz), 0.0)

    def jaw_rotation(self, angle: float) -> np.ndarray:
        return _rotate_x(self.P, JAW_PIVOT, angle * self.jaw)

    def toward_slit(self, w: np.ndarray) -> np.ndarray:
        return (self.slit - self.P) * w[:, None]

    def lids(self, side: float, up_edge: float | None = None, low_edge: float | None = None) -> np.ndarray:
        """Delta that moves one eye's lid edges to new elevations (degrees)."""
        d = np.zeros_like(self.P)
        lid = self.g.attrs["lid"]
        for part, edge, rest, far in ((LID_UP, up_edge, LID_UP_EDGE, LID_UP_TOP), (LID_LOW, low_edge, LID_LOW_EDGE, LID_LOW_BOTTOM)):
            if edge is None:
                continue
            m = (self.part == part) & (self.eye_side == side)
            frac, az, radius = lid[m, 0], lid[m, 1], lid[m, 2]
            c = self.eye_center[m]
            new = _lid_point(c, EYE_RADIUS * radius[:, None], _lid_elevation(frac, edge, far), az)
            old = _lid_point(c, EYE_RADIUS * radius[:, None], _lid_elevation(frac, rest, far), az)
            d[m] = new - old
        return d

    def gaze(self, side: float, axis: np.ndarray, angle: float) -> np.ndarray:
        d = np.zeros_like(self.P)
        m = (self.part == IRIS) & (self.eye_side == side)
        if m.any():
            d[m] = _rotate_about(self.P[m], self.eye_center[m][0], axis, angle)
        return d


def _shape_deltas(f: _Fields, names: Sequence[str], gaze: bool = True) -> dict[str, np.ndarray]:
    """One displacement field per ARKit name; a name this table lacks gets no key (reported).

    ``gaze``: the eyeLook keys also turn the irises. Off when eye bones turn the eyes (the rig):
    a shape key can only blend a rotation linearly, which carries the iris off the (tapered)
    eyeball and under its white at partial weights (measured: at lookOut 0.31 + lookUp 0.2 the iris
    vanished), and turning the eyes both ways would double the gaze. The lids still follow the gaze.
    """
    V = f.vec
    L, R = 1.0, -1.0
    lip, lower, upper = f.lip, f.lower, f.upper

    def per_side(make: Callable[[float], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return make(L), make(R)

    def turn(side: float, axis: np.ndarray, angle: float) -> np.ndarray:
        return f.gaze(side, axis, angle) if gaze else np.zeros_like(f.P)

    def eye_keys(side: float, sfx: str) -> dict[str, np.ndarray]:
        inward = -side  # towards the nose
        return {
            f"eyeBlink{sfx}": f.lids(side, -20.0, -25.0),
            f"eyeSquint{sfx}": f.lids(side, 9.0, -13.0) + V(f.region(side * 0.34, 0.55, 0.16, 0.08, (SKIN,)), Z_AXIS * 0.02),
            f"eyeWide{sfx}": f.lids(side, 40.0, -34.0),
            f"eyeLookIn{sfx}": turn(side, Z_AXIS, 0.42 * inward),
            f"eyeLookOut{sfx}": turn(side, Z_AXIS, -0.42 * inward),
            f"eyeLookUp{sfx}": turn(side, X_AXIS, -0.38) + f.lids(side, 30.0, None),
            f"eyeLookDown{sfx}": turn(side, X_AXIS, 0.38) + f.lids(side, 5.0, -32.0),
        }

    def mouth_side_keys(side: float, sfx: str) -> dict[str, np.ndarray]:
        c = f.corner(side)
        cw = f.corner(side, 0.16, 0.14)
        half = f.left if side > 0 else f.right
        out = X_AXIS * side
        cheek = f.region(side * 0.36, 0.3, 0.16, 0.14, (SKIN,))
        return {
            f"mouthSmile{sfx}": V(c, out * 0.045 + Z_AXIS * 0.07 + BACK * 0.035) + V(cheek, Z_AXIS * 0.02 + FORWARD * 0.012),
            f"mouthFrown{sfx}": V(c, Z_AXIS * -0.065 + out * 0.005),
            f"mouthDimple{sfx}": V(c, out * 0.025 + BACK * 0.04),
            f"mouthStretch{sfx}": V(cw, out * 0.06 + Z_AXIS * -0.025 + BACK * 0.01),
            f"mouthPress{sfx}": f.toward_slit(f.lip_tight * half * 0.55) + V(f.lip_tight * half, BACK * 0.012),
            f"mouthUpperUp{sfx}": V(upper * f.inner * half * (1 - 0.6 * f.corner(side, 0.05, 0.05)), Z_AXIS * 0.07)
                                  + V(upper * f.mouth_area * half * (1 - f.inner), Z_AXIS * 0.02),
            f"mouthLowerDown{sfx}": V(lower * f.inner * half * (1 - 0.6 * f.corner(side, 0.05, 0.05)), Z_AXIS * -0.075)
                                    + V(lower * f.mouth_area * half * (1 - f.inner), Z_AXIS * -0.02),
            f"cheekSquint{sfx}": V(f.region(side * 0.36, 0.45, 0.15, 0.1, (SKIN,)), Z_AXIS * 0.035 + FORWARD * 0.01)
                                 + f.lids(side, None, -19.0),
            f"noseSneer{sfx}": V(f.region(side * 0.08, 0.36, 0.08, 0.09, (SKIN,)), Z_AXIS * 0.035 + BACK * 0.005)
                               + V(f.region(side * 0.12, 0.86, 0.1, 0.1), Z_AXIS * -0.02),
            f"browDown{sfx}": V(f.region(side * 0.33, 0.93, 0.22, 0.14), Z_AXIS * -0.055 + X_AXIS * (-side * 0.012))
                              + V(np.where((f.part == LID_UP) & (f.eye_side == side), 0.4, 0.0), Z_AXIS * -0.03),
            f"browOuterUp{sfx}": V(f.region(side * 0.52, 0.93, 0.16, 0.14), Z_AXIS * 0.065),
        }

    bag_up = np.where(f.part == MOUTH_BAG, 1.0 - f.jaw, 0.0)
    mouth_shift = f.mouth_area + 0.3 * np.isin(f.part, (TEETH_UP, TEETH_LOW, TONGUE, MOUTH_BAG))
    jaw_open = f.jaw_rotation(JAW_OPEN_ANGLE)
    table: dict[str, np.ndarray] = {
        "jawOpen": jaw_open,
        "jawForward": V(f.jaw, FORWARD * 0.06),
        "jawLeft": V(f.jaw, X_AXIS * 0.07),
        "jawRight": V(f.jaw, X_AXIS * -0.07),
        # lips meet even with the jaw open: undo the jaw's motion on the lips (ARKit's definition)
        "mouthClose": -jaw_open * (f.lip * lower)[:, None] + V(f.lip * upper * f.inner, Z_AXIS * -0.012),
        "mouthFunnel": V(-0.3 * f.P[:, 0] * lip, X_AXIS) + V(lip, FORWARD * 0.05)
                       + V(f.inner * (upper - lower) * np.abs(np.sin(np.nan_to_num(f.g.attrs["theta"], nan=0.0))), Z_AXIS * 0.04)
                       + V(bag_up * 0.0, Z_AXIS),
        "mouthPucker": V(-0.45 * f.P[:, 0] * lip, X_AXIS) + V(lip, FORWARD * 0.075) + f.toward_slit(f.lip_tight * 0.25),
        "mouthLeft": V(mouth_shift, X_AXIS * 0.07),
        "mouthRight": V(mouth_shift, X_AXIS * -0.07),
        "mouthRollLower": f.toward_slit(f.lip_tight * lower * 0.6) + V(f.lip_tight * lower, BACK * 0.05),
        "mouthRollUpper": f.toward_slit(f.lip_tight * upper * 0.6) + V(f.lip_tight * upper, BACK * 0.05),
        "mouthShrugLower": V(lip * lower, Z_AXIS * 0.035 + FORWARD * 0.035) + V(f.region(0.0, -0.3, 0.15, 0.12, (SKIN,)), Z_AXIS * 0.025),
        "mouthShrugUpper": V(lip * upper, Z_AXIS * 0.03 + FORWARD * 0.025),
        "browInnerUp": V(f.region(0.15, 0.92, 0.12, 0.14) + f.region(-0.15, 0.92, 0.12, 0.14), Z_AXIS * 0.065),
        "cheekPuff": V(f.region(0.38, 0.05, 0.17, 0.17, (SKIN,)), X_AXIS * 0.06 + FORWARD * 0.03)
                     + V(f.region(-0.38, 0.05, 0.17, 0.17, (SKIN,)), X_AXIS * -0.06 + FORWARD * 0.03),
        "tongueOut": V(np.where(f.part == TONGUE, 1.0, 0.0), FORWARD * 0.17 + Z_AXIS * -0.02)
                     + V(lip * lower * f.inner, Z_AXIS * -0.03),
    }
    for side, sfx in ((L, "Left"), (R, "Right")):
        table.update(eye_keys(side, sfx))
        table.update(mouth_side_keys(side, sfx))
    del per_side
    out = {}
    for name in names:
        key = next((k for k in table if k.lower() == name.lower()), None)
        if key is None:
            raise KeyError(f"demo head has no sculpt for shape key {name!r}")
        out[name] = table[key].astype(np.float32)
    return out


def build_head_geometry(names: Sequence[str] | None = None, gaze_keys: bool = True) -> HeadGeometry:
    """The whole head as numpy: rest mesh, materials, and a delta per ARKit name in ``names``
    (``gaze_keys``: the eyeLook keys turn the irises too; off for a head whose eye bones turn them)."""
    if names is None:
        from .vocabulary import ARKIT_NAMES
        names = ARKIT_NAMES
    b = _Builder()
    mouth = _add_skin(b)
    for side in (1.0, -1.0):
        _add_eye(b, side)
        _add_brow(b, side)
    _add_mouth_parts(b, mouth["slit_center"])
    _add_neck_and_ears(b)
    pre = np.concatenate(b.verts)
    attrs = {k: np.concatenate(v) for k, v in b.attrs.items()}
    T = np.where(np.isnan(attrs["T"]), face_coords(pre), attrs["T"])
    verts = taper(pre)
    attrs["slit"] = np.where(np.isnan(attrs["slit"]), np.nan, taper(np.nan_to_num(attrs["slit"])))
    eye = attrs["eye"].copy()
    ok = ~np.isnan(eye[:, 0])
    eye[ok, :3] = taper(eye[ok, :3])
    attrs["eye"] = eye
    g = HeadGeometry(verts, b.faces, np.asarray(b.mats), np.concatenate(b.part), T, attrs)
    mouth["slit_center"] = taper(mouth["slit_center"][None, :])[0]
    g.shape_deltas = _shape_deltas(_Fields(g, mouth), names, gaze=gaze_keys)
    return g


# --- head and eye rig (numpy) --------------------------------------------------------------------
NECK_PIVOT = np.array([0.0, 0.16, -0.80])   # where the skull turns on the neck (roughly C1/C2)
HEAD_BONE_LENGTH = 0.6
EYE_BONE_LENGTH = 0.15
HEAD_BONE, LEFT_EYE_BONE, RIGHT_EYE_BONE = "head", "eye.L", "eye.R"


@dataclass
class HeadRig:
    """Bones ``name -> (head, tail, parent)`` and per-bone vertex weights (N,), for an armature.

    The head bone stands on the neck pivot and points up (yaw about its Y); the eye bones sit at
    the eyeball centres and point forward, -Y (yaw about their Z), parented to the head. Names
    follow Blender's ``.L``/``.R`` convention, which the add-on's bone detection finds.
    """

    bones: dict[str, tuple[np.ndarray, np.ndarray, str | None]]
    weights: dict[str, np.ndarray]


def build_head_rig(g: HeadGeometry) -> HeadRig:
    """The demo head's neck pivot and turning eyes: everything above the neck follows the head
    bone (the neck blends from its base to the jaw), eyeballs and irises follow their eye bone."""
    z = g.verts[:, 2]
    head_w = smoothstep(-1.5, -0.55, z)
    eye = g.attrs["eye"]
    bones: dict[str, tuple[np.ndarray, np.ndarray, str | None]] = {
        HEAD_BONE: (NECK_PIVOT, NECK_PIVOT + np.array([0.0, 0.0, HEAD_BONE_LENGTH]), None)}
    weights = {HEAD_BONE: head_w}
    ball = np.isin(g.part, (EYEBALL, IRIS))
    for side, name in ((1.0, LEFT_EYE_BONE), (-1.0, RIGHT_EYE_BONE)):
        mine = ball & (np.nan_to_num(eye[:, 3]) == side)
        centre = eye[mine, :3].mean(axis=0)
        bones[name] = (centre, centre + np.array([0.0, -EYE_BONE_LENGTH, 0.0]), HEAD_BONE)
        weights[name] = mine.astype(np.float32)
        head_w = np.where(mine, 0.0, head_w)
    weights[HEAD_BONE] = head_w.astype(np.float32)
    return HeadRig(bones, weights)


# --- Blender ------------------------------------------------------------------------------------
def _material(bpy: Any, name: str, rgba: tuple[float, float, float, float]) -> Any:
    mat = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    mat.diffuse_color = rgba                      # what Workbench (MATERIAL colour) shows
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:                          # what Cycles/EEVEE show
        bsdf.inputs["Base Color"].default_value = rgba
        bsdf.inputs["Roughness"].default_value = 0.3 if name in ("CT_EyeWhite", "CT_Iris", "CT_Pupil") else 0.6
    return mat


def build_demo_head(name: str = "CafeTalkHead", names: Sequence[str] | None = None,
                    collection: Any = None, subdivide: int = 1, rig: bool = True) -> Any:
    """Create the demo head object in the current scene; returns the object.

    ``names`` are the ARKit shape-key names to sculpt (default: the add-on's copy of the 52).
    ``subdivide`` adds a Subdivision Surface modifier (render level) for smooth silhouettes.
    ``rig`` adds the armature of :func:`build_head_rig` (the object's parent, ``<name>Rig``); its eye
    bones then turn the eyes, and the eyeLook keys move only the lids.
    """
    import bpy
    g = build_head_geometry(names, gaze_keys=not rig)
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(g.verts.tolist(), [], [list(f) for f in g.faces])
    mesh.validate(clean_customdata=False)
    for mat_name, rgba in MATERIALS:
        mesh.materials.append(_material(bpy, mat_name, rgba))
    mesh.polygons.foreach_set("material_index", g.face_materials.astype(np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(len(mesh.polygons), dtype=bool))
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    (collection or bpy.context.scene.collection).objects.link(obj)
    basis = obj.shape_key_add(name="Basis", from_mix=False)
    basis_co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    basis.data.foreach_get("co", basis_co)
    for key_name, delta in g.shape_deltas.items():
        kb = obj.shape_key_add(name=key_name, from_mix=False)
        kb.data.foreach_set("co", basis_co + delta.reshape(-1))
        kb.slider_min, kb.slider_max = 0.0, 1.0
    if rig:
        _add_rig(bpy, obj, build_head_rig(g), collection)
    if subdivide > 0:
        mod = obj.modifiers.new("Subdivision", "SUBSURF")
        mod.levels = 1
        mod.render_levels = subdivide
    return obj


def _add_rig(bpy: Any, obj: Any, head_rig: HeadRig, collection: Any) -> Any:
    """An armature with the rig's bones, the mesh parented to it with weighted vertex groups."""
    arm = bpy.data.armatures.new(obj.name + "Rig")
    rig_obj = bpy.data.objects.new(obj.name + "Rig", arm)
    (collection or bpy.context.scene.collection).objects.link(rig_obj)
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = rig_obj
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, (head, tail, parent) in head_rig.bones.items():
        eb = arm.edit_bones.new(bone_name)
        eb.head, eb.tail = head.tolist(), tail.tolist()
        if parent is not None:
            eb.parent = arm.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = previous
    for bone_name, w in head_rig.weights.items():
        group = obj.vertex_groups.new(name=bone_name)
        for value in np.unique(w[w > 0]):
            group.add(np.flatnonzero(w == value).tolist(), float(value), "REPLACE")
    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = rig_obj
    obj.parent = rig_obj
    return rig_obj


def setup_demo_scene(scene: Any, head: Any, resolution: tuple[int, int] = (480, 360),
                     engine: str = "BLENDER_WORKBENCH") -> Any:
    """Camera framed on the face, a key light, Workbench material colours; returns the camera."""
    import bpy
    cam_data = bpy.data.cameras.new("CafeTalkCamera")
    cam_data.lens = 85.0
    cam = bpy.data.objects.new("CafeTalkCamera", cam_data)
    scene.collection.objects.link(cam)
    aspect = resolution[0] / resolution[1]
    height = 2.15                                         # scene units from chin-below to above the brows
    width = max(height * aspect, 1.9)
    dist = width * cam_data.lens / cam_data.sensor_width
    cam.location = (0.0, -dist - 0.2, -0.08)
    cam.rotation_euler = (math.pi / 2, 0.0, 0.0)
    scene.camera = cam
    light_data = bpy.data.lights.new("CafeTalkKey", "SUN")
    light_data.energy = 3.0
    light = bpy.data.objects.new("CafeTalkKey", light_data)
    light.rotation_euler = (math.radians(60), 0.0, math.radians(-25))
    scene.collection.objects.link(light)
    scene.render.engine = engine
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    if engine == "BLENDER_WORKBENCH":
        shading = scene.display.shading
        shading.light = "STUDIO"
        shading.color_type = "MATERIAL"
        shading.show_cavity = False
        scene.display.render_aa = "FXAA"
        shading.show_specular_highlight = True
    world = scene.world or bpy.data.worlds.new("CafeTalkWorld")
    scene.world = world
    world.color = (0.18, 0.19, 0.21)
    return cam
