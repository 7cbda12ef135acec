"""BlendshapeCurves: the one currency of the project, (frames, 52) float32 weights at an fps.

Everything that produces animation (the model, the synthetic corpus, a Live Link import)
returns one, and everything that consumes it (the server, the add-on, metrics) reads it by
channel name. Resampling, smoothing and key reduction live here so that the Blender side
stays a thin writer.

Head and eye rotations travel with the weights: ``rotations`` is ``None`` (no head motion)
or (frames, 9) radians in :data:`rig.ROTATION_NAMES` order (Live Link Face's 9 columns).
The JSON carries them by name (``rotation_names`` + ``rotations`` rows); files without them
(every file written before rotations existed) still load, with ``rotations=None``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import rig

FORMAT_VERSION = 1


@dataclass
class BlendshapeCurves:
    """ARKit-52 weights over time.

    ``values`` is (frames, len(names)) float32; frame ``i`` is at time ``i / fps`` seconds.
    ``names`` defaults to :data:`rig.ARKIT_NAMES` in Apple's order.
    """

    values: np.ndarray
    fps: float = 30.0
    names: tuple[str, ...] = field(default=rig.ARKIT_NAMES)
    #: (frames, 9) head/eye rotations in radians, :data:`rig.ROTATION_NAMES` order; None = none.
    rotations: np.ndarray | None = None
    #: Time of frame 0 on the source's clock in seconds (a Live Link take's first timecode).
    start_s: float = 0.0
    #: How many weights the reader of a take file clamped into [0, 1] (``rig.clamp_weights``):
    #: a note on an import, never saved and not carried by edits.
    clamped: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        self.values = np.ascontiguousarray(self.values, dtype=np.float32)
        self.names = tuple(self.names)
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValueError(f"values must be (frames, {len(self.names)}), got {self.values.shape}")
        if not (self.fps > 0 and np.isfinite(self.fps)):
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not np.all(np.isfinite(self.values)):
            raise ValueError("values contain NaN or infinity")
        if self.rotations is not None:
            self.rotations = np.ascontiguousarray(self.rotations, dtype=np.float32)
            shape = (self.values.shape[0], len(rig.ROTATION_NAMES))
            if self.rotations.shape != shape:
                raise ValueError(f"rotations must be {shape}, got {self.rotations.shape}")
            if not np.all(np.isfinite(self.rotations)):
                raise ValueError("rotations contain NaN or infinity")
        self.start_s = float(self.start_s)
        if not np.isfinite(self.start_s):
            raise ValueError(f"start_s must be finite, got {self.start_s}")

    def _with(self, values: np.ndarray, rotations: np.ndarray | None, fps: float | None = None,
              start_s: float | None = None) -> "BlendshapeCurves":
        """A new take with these arrays and this take's names (and fps/start unless given)."""
        return BlendshapeCurves(values, self.fps if fps is None else fps, self.names, rotations,
                                self.start_s if start_s is None else start_s)

    # -- basic facts ---------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    @classmethod
    def from_live_link(cls, take: rig.LiveLinkTake) -> "BlendshapeCurves":
        """A read Live Link Face take as curves (frame 0 at its first timecode, its clamp count kept).

        Built here rather than by the take so that ``rig`` never imports this module.
        """
        return cls(take.weights, take.fps, rig.ARKIT_NAMES, take.rotations, take.start_frame / take.fps,
                   clamped=take.clamped)

    @classmethod
    def neutral(cls, num_frames: int, fps: float = 30.0) -> "BlendshapeCurves":
        return cls(np.zeros((num_frames, rig.NUM_CHANNELS), np.float32), fps)

    def channel(self, name: str) -> np.ndarray:
        """One channel by ARKit name (case-insensitive), a view into ``values``."""
        lower = [n.lower() for n in self.names]
        try:
            return self.values[:, lower.index(name.lower())]
        except ValueError:
            raise KeyError(f"no channel {name!r} in these curves") from None

    def copy(self) -> "BlendshapeCurves":
        return self._with(self.values.copy(), None if self.rotations is None else self.rotations.copy())

    # -- editing ---------------------------------------------------------------------------
    def slice_seconds(self, start_s: float, end_s: float) -> "BlendshapeCurves":
        """Frames whose time lies in [start_s, end_s)."""
        if end_s < start_s:
            raise ValueError(f"end_s ({end_s}) is before start_s ({start_s})")
        a = max(0, int(np.ceil(start_s * self.fps - 1e-9)))
        b = min(self.num_frames, int(np.ceil(end_s * self.fps - 1e-9)))
        rot = None if self.rotations is None else self.rotations[a:b].copy()
        return self._with(self.values[a:b].copy(), rot, start_s=self.start_s + a / self.fps)

    def resample(self, fps: float, num_frames: int | None = None) -> "BlendshapeCurves":
        """Linear resampling to another frame rate, keeping the duration (frames at i / fps).

        ``num_frames`` fixes the output length (e.g. round(audio duration x fps), which the
        rounded source length does not always give); frames past the source hold its last one.
        """
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if num_frames is not None and num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if self.num_frames == 0 or (fps == self.fps and num_frames in (None, self.num_frames)):
            rot = None if self.rotations is None else self.rotations.copy()
            return self._with(self.values.copy(), rot, fps=fps)
        n_out = num_frames if num_frames is not None else max(1, int(round(self.duration_s * fps)))
        t_out = np.arange(n_out) / fps * self.fps  # positions in source frames
        t_out = np.clip(t_out, 0, self.num_frames - 1)
        lo = np.floor(t_out).astype(int)
        hi = np.minimum(lo + 1, self.num_frames - 1)
        w = (t_out - lo)[:, None].astype(np.float32)
        out = self.values[lo] * (1 - w) + self.values[hi] * w
        rot = None if self.rotations is None else self.rotations[lo] * (1 - w) + self.rotations[hi] * w
        return self._with(out, rot, fps=fps)

    def clamp(self, low: float = 0.0, high: float = 1.0) -> "BlendshapeCurves":
        rot = None if self.rotations is None else self.rotations.copy()
        return self._with(np.clip(self.values, low, high), rot)

    def smooth(self, sigma_frames: float = 1.0) -> "BlendshapeCurves":
        """Gaussian smoothing along time (edges reflected); ``sigma_frames=0`` is a copy."""
        if sigma_frames <= 0 or self.num_frames < 2:
            return self.copy()
        radius = max(1, int(3 * sigma_frames))
        k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
        k /= k.sum()
        mode = "reflect" if self.num_frames > radius else "edge"

        def along_time(x: np.ndarray) -> np.ndarray:
            padded = np.pad(x, ((radius, radius), (0, 0)), mode=mode)
            return np.stack([np.convolve(padded[:, c], k, mode="valid") for c in range(x.shape[1])], axis=1)
        rot = None if self.rotations is None else along_time(self.rotations)
        return self._with(along_time(self.values), rot)

    def reduce_keys(self, tolerance: float = 0.01) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per channel, the fewest keys whose linear interpolation stays within ``tolerance``.

        Returns ``{name: (frames, values)}``. Uses a greedy forward scan (optimal for the
        'max error per segment' criterion in the sense that each segment is as long as it can
        be), which gives fewer keys than RDP on speech curves and runs in O(n * segment).
        """
        return {name: reduce_channel_keys(self.values[:, c], tolerance) for c, name in enumerate(self.names)}

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The ``cafetalk.curves`` JSON object; rotations and a start time only when present.

        Both are optional additions to version 1 (older readers ignore them and still get the
        weights), so the version stays 1.
        """
        out = {"format": "cafetalk.curves", "version": FORMAT_VERSION, "fps": self.fps,
               "names": list(self.names), "frames": self.num_frames,
               "values": self.values.round(6).tolist()}
        if self.rotations is not None:
            out["rotation_names"] = list(rig.ROTATION_NAMES)
            out["rotations"] = self.rotations.round(6).tolist()
        if self.start_s:
            out["start_s"] = self.start_s
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "BlendshapeCurves":
        if not isinstance(data, dict) or data.get("format") != "cafetalk.curves":
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"format must be 'cafetalk.curves', got {got!r}")
        if int(data.get("version", 0)) > FORMAT_VERSION:
            raise ValueError(f"curves version {data.get('version')} is newer than this reader ({FORMAT_VERSION})")
        names = tuple(data["names"])
        values = np.asarray(data["values"], dtype=np.float32).reshape(-1, len(names))
        rotations = None
        if data.get("rotations") is not None:
            rotations = _rotations_by_name(data.get("rotation_names", rig.ROTATION_NAMES),
                                           np.asarray(data["rotations"], dtype=np.float32), values.shape[0])
        return cls(values, float(data["fps"]), names, rotations, float(data.get("start_s", 0.0)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "BlendshapeCurves":
        return cls.from_dict(json.loads(text))

    def to_live_link_csv(self, path: str | Path | None = None) -> str:
        """Live Link Face CSV text exactly as the app writes it (rotations filled, or 0), timecodes from ``start_s``."""
        return rig.write_live_link_csv(path, self.in_arkit_order().values, self.fps, rotations=self.rotations,
                                       start_frame=self.start_s * self.fps)

    def save(self, path: str | Path) -> None:
        """Write by extension: ``.json``, ``.npz`` or ``.csv`` (Live Link Face)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            path.write_text(self.to_json())
        elif suffix == ".npz":
            extra = {} if self.rotations is None else {"rotations": self.rotations,
                                                       "rotation_names": np.array(rig.ROTATION_NAMES)}
            np.savez(path, values=self.values, fps=np.float64(self.fps), names=np.array(self.names),
                     start_s=np.float64(self.start_s), **extra)
        elif suffix == ".csv":
            self.to_live_link_csv(path)
        else:
            raise ValueError(f"unsupported curves file extension {suffix!r} (use .json, .npz or .csv)")

    @classmethod
    def load(cls, path: str | Path, fps: float | None = None) -> "BlendshapeCurves":
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            return cls.from_json(path.read_text())
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                names = tuple(str(n) for n in z["names"])
                rot = None
                if "rotations" in z.files:
                    rot = _rotations_by_name([str(n) for n in z["rotation_names"]], z["rotations"], z["values"].shape[0])
                start = float(z["start_s"]) if "start_s" in z.files else 0.0
                return cls(z["values"], float(z["fps"]), names, rot, start)
        if suffix == ".csv":
            return cls.from_live_link(rig.read_live_link_csv(path, fps=fps))
        raise ValueError(f"unsupported curves file extension {suffix!r} (use .json, .npz or .csv)")

    def in_arkit_order(self) -> "BlendshapeCurves":
        """The same curves with exactly the 52 ARKit channels in Apple's order (missing = 0)."""
        if self.names == rig.ARKIT_NAMES:
            return self
        out = np.zeros((self.num_frames, rig.NUM_CHANNELS), np.float32)
        for c, name in enumerate(self.names):
            out[:, rig.channel_index(name)] = self.values[:, c]
        return BlendshapeCurves(out, self.fps, rig.ARKIT_NAMES, self.rotations, self.start_s)


def _rotations_by_name(names, rows: np.ndarray, frames: int) -> np.ndarray:
    """(frames, 9) in :data:`rig.ROTATION_NAMES` order from columns listed by ``names``
    (matched case-insensitively; a rotation the file does not list is 0)."""
    names = [str(n) for n in names]
    rows = np.asarray(rows, dtype=np.float32).reshape(frames, len(names))
    lower = [n.lower() for n in rig.ROTATION_NAMES]
    out = np.zeros((frames, len(rig.ROTATION_NAMES)), np.float32)
    for c, name in enumerate(names):
        if name.lower() not in lower:
            raise ValueError(f"rotation_names: {name!r} is not one of {', '.join(rig.ROTATION_NAMES)}")
        out[:, lower.index(name.lower())] = rows[:, c]
    return out


def reduce_channel_keys(y: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy key reduction for one channel: (key frame indices, key values).

    Starting from a key, extend the segment while the straight line to the candidate end
    stays within ``tolerance`` of every sample in between. First and last frames are keys.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if n <= 2:
        idx = np.arange(n)
        return idx, y.astype(np.float32)
    keys = [0]
    start = 0
    while start < n - 1:
        end = start + 1
        # grow while the segment start->end+1 fits
        while end + 1 < n:
            cand = end + 1
            seg = y[start:cand + 1]
            line = np.linspace(y[start], y[cand], cand - start + 1)
            if np.max(np.abs(seg - line)) > tolerance:
                break
            end = cand
        keys.append(end)
        start = end
    idx = np.asarray(keys, dtype=np.int64)
    return idx, y[idx].astype(np.float32)
