"""Recordings: list and search, one recording's summary, export and import."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

from elixir_scope.store.density import time_bounds

from .common import ApiError, int_param, ok, recording_of, state, view_of

MAX_LIST = 500
MAX_IMPORT_BYTES = 512 * 1024 * 1024


def _info_json(info) -> dict:
    return {"id": info.id, "name": info.name, "status": info.status, "events": info.event_count,
            "dropped": info.dropped_count, "created_at": info.created_at, "ended_at": info.ended_at,
            "end_reason": info.end_reason, "spec": info.spec}


def list_recordings(request: Request):
    """Newest first; ``q`` keeps those whose name, spec or metadata contain it (any case)."""
    q = request.query_params.get("q", "").strip().lower()
    infos = state(request).store.recordings()
    rows = []
    for info in sorted(infos, key=lambda i: i.id, reverse=True):
        if q and q not in (info.name + json.dumps(info.spec) + json.dumps(info.meta)).lower():
            continue
        rows.append(_info_json(info))
    return ok({"recordings": rows[:MAX_LIST], "total": len(rows), "capped": len(rows) > MAX_LIST})


def recording_summary(request: Request):
    v = view_of(request)
    rec = v.rec
    bounds = time_bounds(rec)
    procs = rec.processes()
    gap_count = rec.db.query_one("SELECT count(*) FROM gaps WHERE recording_id = ?", (rec.id,))[0]
    return ok({**_info_json(rec.info), "gap_count": gap_count,
               "nodes": [{"id": n.id, "name": n.name, "otp": n.otp_release, "time_unit": n.time_unit}
                         for n in rec.nodes()],
               "since": 0 if bounds else None, "until": v.rel(bounds[1]) if bounds else None,
               "t0": str(v.t0),
               "process_count": len(procs),
               "processes": [v.proc(p) for p in procs[:int_param(request, "procs", 500, lo=0, hi=5000)]]})


def export_recording(request: Request):
    rec = recording_of(request)
    tmp = Path(tempfile.mkdtemp(prefix="es-ui-export-"))
    path = state(request).store.export_recording(rec.id, tmp / f"recording-{rec.id}.esrec")

    def cleanup() -> None:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()

    return FileResponse(path, filename=path.name, media_type="application/octet-stream",
                        background=BackgroundTask(cleanup))


async def import_recording(request: Request):
    """The request body is an exported recording file; answers with the new recording's id."""
    size = int(request.headers.get("content-length") or 0)
    if size > MAX_IMPORT_BYTES:
        raise ApiError(413, f"the file is {size} bytes; the UI imports up to {MAX_IMPORT_BYTES} "
                       "(use `elixir-scope import` for bigger ones)")
    tmp = Path(tempfile.mkdtemp(prefix="es-ui-import-"))
    path = tmp / "upload.esrec"
    got = 0
    try:
        with path.open("wb") as f:
            async for chunk in request.stream():
                got += len(chunk)
                if got > MAX_IMPORT_BYTES:
                    raise ApiError(413, f"the upload passed {MAX_IMPORT_BYTES} bytes; use "
                                   "`elixir-scope import` for bigger files")
                f.write(chunk)
        if got == 0:
            raise ApiError(400, "the request body is empty: send an exported recording file")
        from starlette.concurrency import run_in_threadpool

        from elixir_scope.store import StoreError

        try:
            rid = await run_in_threadpool(state(request).store.import_recording, path)
        except StoreError as exc:
            raise ApiError(400, f"not an importable recording: {exc}") from exc
        return ok({"id": rid})
    finally:
        path.unlink(missing_ok=True)
        tmp.rmdir()


ROUTES = [
    Route("/api/recordings", list_recordings),
    Route("/api/recordings/import", import_recording, methods=["POST"]),
    Route("/api/recordings/{rid}", recording_summary),
    Route("/api/recordings/{rid}/export", export_recording),
]
