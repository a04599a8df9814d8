"""``omnivec serve``: a FastAPI app over one run folder -- the JSON API, its OpenAPI docs (``/docs``), and the
demo page at ``/`` (plain HTML + JavaScript shipped in this package, nothing fetched from the internet).

    GET  /health                 liveness: {"status": "ok"}
    GET  /info                   the run: family, modalities (and extensions), tasks, index, batching, limits
    POST /embed                  an input -> its vector (``task``: through a retrieval task's projection)
    POST /predict/{task}         an input -> the task's prediction (UnIVAL: the task's generated answer)
    POST /generate               UnIVAL: caption / vqa / grounding ... -> text, and a box in pixels for grounding
                                 (options: beam, no_repeat_ngram, length_penalty, max_len)
    POST /search                 an input -> its ``k`` nearest neighbours in the index (cross-modal through a task)
    GET  /index/thumbnail/{row}  an index row's thumbnail (PNG, stored in the index file)

Every input is one multipart upload (``file``, or a ``text`` field) or JSON (``text`` / ``data_base64`` +
``filename``). Every client error is a 4xx JSON ``{"error": "..."}`` naming what was wrong, and never takes the
server down; bodies above ``max_upload_mb`` are refused (413) before they are read, and slow or idle clients are
timed out (:mod:`omnivec.serve.limits`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from omnivec.serve.limits import BodyLimit, server_config
from omnivec.serve.service import ServeConfig, Service
from omnivec.serve.uploads import BadRequest, Payload, decode, modality_of_payload, read_payload

STATIC = resources.files("omnivec.serve") / "static"


def _body_doc(extra: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads :class:`Payload` by hand (multipart or JSON)."""
    props = {"file": {"type": "string", "format": "binary"}, "text": {"type": "string"}, **extra}
    json_props = {"text": {"type": "string"}, "data_base64": {"type": "string"}, "filename": {"type": "string"}}
    return {
        "requestBody": {
            "content": {
                "multipart/form-data": {"schema": {"type": "object", "properties": props}},
                "application/json": {"schema": {"type": "object", "properties": json_props | extra}},
            }
        }
    }


DECODING = {
    "beam": {"type": "integer", "default": 1},
    "no_repeat_ngram": {"type": "integer", "default": 3},
    "length_penalty": {"type": "number", "default": 1.0},
    "max_len": {"type": "integer", "default": 0},
}
"""UnIVAL generation options a request may send (the server's ``--beam`` ... are the defaults)."""


def create_app(run: str | Path, cfg: ServeConfig | None = None) -> FastAPI:
    """The app for run folder ``run``; its model loads (and its batcher starts) here, once."""
    cfg = cfg or ServeConfig()
    svc = Service(run, cfg)
    svc.batcher.start()
    gate = svc.decode_gate  # at most cfg.max_decodes uploads decode at once (omnivec.serve.memory)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        svc.batcher.start()
        yield
        svc.batcher.stop()

    app = FastAPI(
        title=f"omnivec: {svc.run_dir.name}",
        description=(__doc__ or "").split("\n\n")[0],
        version="1",
        lifespan=lifespan,
    )
    app.state.service = svc

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, e: BadRequest) -> JSONResponse:
        return JSONResponse({"error": e.message}, status_code=e.status)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, e: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(e.detail)}, status_code=e.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        msg = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        return JSONResponse({"error": msg}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(_: Request, e: Exception) -> JSONResponse:  # a bug, not the client's: say so, keep serving
        return JSONResponse({"error": f"internal error: {type(e).__name__}: {e}"}, status_code=500)

    async def decoded(p: Payload, modality: str) -> Any:
        """The upload decoded, at most ``cfg.max_decodes`` at a time; a text (at most ``max_text_kb``, only
        stripped) decodes at once, so it never waits behind a long video."""
        if modality == "text":
            return decode(p, modality, {})
        return await gate.run(decode, p, modality, svc.read_options(modality))

    async def read(request: Request, task_modality: str | None = None) -> tuple[Payload, Any]:
        """The request's payload and its decoded input; with ``task_modality``, an input of another modality
        is refused before it is decoded."""
        p = await read_payload(request, max_text_bytes(cfg))
        modality = modality_of_payload(p, svc.modalities)
        if task_modality is not None and modality != task_modality:
            raise BadRequest(f"this task takes {task_modality} input, not {modality}")
        x = await decoded(p, modality)
        return p, x

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text())

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "family": svc.family.name}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return svc.info()

    @app.post("/embed", openapi_extra=_body_doc({"modality": {"type": "string"}, "task": {"type": "string"}}))
    async def embed(request: Request) -> dict[str, Any]:
        p, x = await read(request)
        task = p.field("task")
        v = await svc.embed(x, task)
        return {"modality": x.modality, "space": f"task:{task}" if task else "trunk", "dim": len(v), "vector": v}

    @app.post("/predict/{task}", openapi_extra=_body_doc({"modality": {"type": "string"}, **DECODING}))
    async def predict(task: str, request: Request) -> dict[str, Any]:
        if svc.family.generates:  # a task is asked in text and answered by generation
            p, x = await read(request)
            return await svc.generate(task, x, p.text if x.modality != "text" else None, cfg.decoding(p))
        head = svc.omnivec_task(task)  # an unknown task is a 404 before any upload is decoded
        _, x = await read(request, head.modality)
        return {"task": task, "kind": head.kind, "prediction": await svc.predict(task, x)}

    @app.post("/generate", openapi_extra=_body_doc({"task": {"type": "string", "default": "caption"}, **DECODING}))
    async def generate(request: Request) -> dict[str, Any]:
        p = await read_payload(request, max_text_bytes(cfg))
        modality = modality_of_payload(p, svc.modalities)
        task = p.field("task", "caption") or "caption"
        svc.seq2seq_task(task, modality)  # 404 / 400 before the upload is decoded
        d = cfg.decoding(p)  # a bad option is a 400 before the upload is decoded
        x = await decoded(p, modality)
        return await svc.generate(task, x, p.text if modality != "text" else None, d)

    @app.post("/search", openapi_extra=_body_doc({"k": {"type": "integer", "default": 10}}))
    async def search(request: Request) -> dict[str, Any]:
        p, x = await read(request)
        k = p.int_field("k", 10, 1, cfg.max_k)
        return {"modality": x.modality, "hits": await svc.search(x, k)}

    @app.get("/index/thumbnail/{row}", response_class=Response)
    async def thumbnail(row: int) -> Response:
        return Response(svc.thumbnail_png(row), media_type="image/png")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_middleware(BodyLimit, limit=int(cfg.max_upload_mb * 1024 * 1024), timeout=cfg.body_timeout_s)
    return app


def max_text_bytes(cfg: ServeConfig) -> int:
    return int(cfg.max_text_kb * 1024)


def serve(run: str | Path, cfg: ServeConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load ``run`` and serve it until interrupted (uvicorn, one process: the model is loaded once)."""
    import uvicorn

    app = create_app(run, cfg)
    print(f"serving {run} ({app.state.service.family.name}, on {app.state.service.device}) at http://{host}:{port}/")
    uvicorn.Server(server_config(app, cfg, host, port)).run()
