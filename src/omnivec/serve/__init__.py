"""Serving a run: the HTTP API and demo page (``app``), dynamic batching (``batching``), the model behind it
(``service``) and request decoding (``uploads``). Needs the ``serve`` extra (FastAPI, uvicorn)."""

from omnivec.serve.service import ServeConfig

__all__ = ["ServeConfig"]
