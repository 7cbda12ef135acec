"""HTTP client for the CafeTalk server, on the standard library only (urllib).

Blender's Python has no ``requests``; the multipart upload is written by hand. Every failure
becomes a :class:`CafeTalkError` carrying the server's ``detail`` message, so operators can
report it as is. Safe to call from a worker thread (no ``bpy`` here).
"""
from __future__ import annotations

import json
import mimetypes
import os
import socket
import urllib.error
import urllib.request
import uuid
from typing import Any

from .errors import CafeTalkError

TERMINAL_STATES = ("done", "failed", "cancelled")


def encode_multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """Body and content type of a ``multipart/form-data`` request.

    ``files`` maps a field to ``(filename, data, content_type)``.
    """
    boundary = f"----cafetalk{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        parts.append(value.encode("utf-8") + b"\r\n")
    for name, (filename, data, ctype) in files.items():
        safe = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
        parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{safe}"\r\n'
                      f"Content-Type: {ctype}\r\n\r\n").encode())
        parts.append(data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """One server: ``base_url`` like ``http://127.0.0.1:8765``, optional bearer ``token``."""

    def __init__(self, base_url: str, token: str = "", timeout_s: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise CafeTalkError(f"server URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    # -- transport ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None,
                 timeout_s: float | None = None) -> Any:
        req = urllib.request.Request(self.base_url + path, data=body, method=method)
        req.add_header("Accept", "application/json")
        if ctype:
            req.add_header("Content-Type", ctype)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s or self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise CafeTalkError(f"server: {self._detail(exc)} (HTTP {exc.code} on {method} {path})", exc.code) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError):
                raise CafeTalkError(f"no CafeTalk server at {self.base_url} (connection refused): "
                                    "start it in the CafeTalk panel or check the URL") from None
            raise CafeTalkError(f"cannot reach the server at {self.base_url}: {reason}") from None
        except (socket.timeout, TimeoutError):
            raise CafeTalkError(f"the server at {self.base_url} did not answer {method} {path} "
                                f"within {timeout_s or self.timeout_s:g} s") from None
        except OSError as exc:
            raise CafeTalkError(f"connection to {self.base_url} failed: {exc}") from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise CafeTalkError(f"server: {method} {path} answered something other than JSON") from None

    @staticmethod
    def _detail(exc: urllib.error.HTTPError) -> str:
        try:
            data = json.loads(exc.read() or b"{}")
        except (json.JSONDecodeError, OSError):
            return exc.reason or "error"
        detail = data.get("detail") if isinstance(data, dict) else None
        if isinstance(detail, list):  # FastAPI validation errors
            detail = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
                               for d in detail if isinstance(d, dict))
        return str(detail or exc.reason or "error")

    # -- endpoints ---------------------------------------------------------------------------
    def health(self, timeout_s: float = 2.0) -> dict[str, Any]:
        return self._request("GET", "/health", timeout_s=timeout_s) or {}

    def info(self) -> dict[str, Any]:
        return self._request("GET", "/v1/info") or {}

    def submit(self, audio_path: str, controls: dict[str, Any], options: dict[str, Any]) -> str:
        """Upload audio + controls; return the job id."""
        try:
            with open(audio_path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise CafeTalkError(f"audio file {audio_path!r} cannot be read: {exc.strerror}") from None
        ctype = mimetypes.guess_type(audio_path)[0] or "application/octet-stream"
        body, content_type = encode_multipart(
            {"controls": json.dumps(controls), "options": json.dumps(options)},
            {"audio": (os.path.basename(audio_path), data, ctype)})
        reply = self._request("POST", "/v1/jobs", body, content_type, timeout_s=max(self.timeout_s, 60.0))
        if not isinstance(reply, dict) or "job_id" not in reply:
            raise CafeTalkError(f"server: POST /v1/jobs answered without a job_id: {reply!r}")
        return str(reply["job_id"])

    def job(self, job_id: str) -> dict[str, Any]:
        """``{state, progress, error}`` of a job."""
        return self._request("GET", f"/v1/jobs/{job_id}") or {}

    def result(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/jobs/{job_id}/result", timeout_s=max(self.timeout_s, 60.0))

    def cancel(self, job_id: str) -> None:
        try:
            self._request("DELETE", f"/v1/jobs/{job_id}")
        except CafeTalkError as exc:
            if exc.status not in (404, 409):  # already gone or finished: nothing to cancel
                raise

    def controls_from_text(self, text: str, duration_s: float) -> dict[str, Any]:
        body = json.dumps({"text": text, "duration_s": duration_s}).encode()
        # generous timeout: the server's first call loads its sentence-embedding model
        return self._request("POST", "/v1/controls/from-text", body, "application/json", timeout_s=180.0) or {}
