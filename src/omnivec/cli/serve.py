"""``omnivec index | search | serve``: put a trained run in front of people -- an index of files to search
(cross-modal through a retrieval task), and an HTTP API with a demo page."""

from __future__ import annotations

import argparse
import json
from typing import Any

from omnivec.cli.common import add_decoding, add_device, add_run_and_inputs, modality_names
from omnivec.config.validate import non_negative_float, non_negative_int, positive_float, positive_int


def cmd_index(a: argparse.Namespace) -> int:
    from omnivec.api.search import build_index

    emb = build_index(a.run, a.modality, a.input, a.out, a.task, a.device)
    labels = len(set(emb.labels) - {""})
    print(f"indexed {len(emb.ids)} {emb.modality} inputs ({labels} labels, space {emb.space}) into {a.out}")
    return 0


def cmd_search(a: argparse.Namespace) -> int:
    from omnivec.api.search import search

    res = search(a.index, a.query, a.k, a.modality, a.run, a.backend, a.device)
    if a.json:
        print(json.dumps({"queries": res.queries, "hits": res.hits, "recall": res.recall}, indent=2))
        return 0
    for q, hits in list(zip(res.queries, res.hits))[: a.show]:
        print(f"{q}:")
        for h in hits:
            print(f"  {h['rank']:3d}  {h['score']:+.3f}  {h['label'] or '-':12s} {h['id']}")
    if len(res.queries) > a.show:
        print(f"... {len(res.queries) - a.show} more queries (--show N, or --json for all)")
    if res.recall:
        print(f"{len(res.queries)} queries: " + "  ".join(f"{k.upper()} {v:.3f}" for k, v in res.recall.items()))
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    from omnivec.errors import OmnivecError

    try:
        from omnivec.serve.app import ServeConfig, serve
    except ImportError as e:
        raise OmnivecError(f"serve needs the serve extra: pip install 'omnivec[serve]' ({e})") from None

    serve(
        a.run,
        ServeConfig(
            index=a.index,
            device=a.device,
            max_batch=a.max_batch,
            max_wait_ms=a.max_wait_ms,
            max_upload_mb=a.max_upload_mb,
            max_text_kb=a.max_text_kb,
            header_timeout_s=a.header_timeout,
            body_timeout_s=a.body_timeout,
            max_connections=a.max_connections,
            max_decodes=a.max_decodes,
            beam=a.beam,
            no_repeat_ngram=a.no_repeat_ngram,
            length_penalty=a.length_penalty,
            max_len=a.max_len,
        ),
        host=a.host,
        port=a.port,
    )
    return 0


def register(sub: Any) -> None:
    i = sub.add_parser("index", help="embed a folder of one modality into a searchable index (with thumbnails)")
    add_run_and_inputs(i)
    i.add_argument("--out", required=True, help="the index to write (.npz)")
    i.add_argument("--task", help="the retrieval task whose space to index in (default: the run's one for --modality)")
    add_device(i)
    i.set_defaults(fn=cmd_index)

    s = sub.add_parser("search", help="nearest neighbours of a file, folder or text in an index (recall for folders)")
    s.add_argument("index")
    s.add_argument("--query", required=True, help="a file, a folder of class subfolders (prints R@k), or a text")
    s.add_argument("--k", type=positive_int, default=10, help="neighbours per query (>= 1)")
    s.add_argument("--modality", choices=modality_names(), help="the query's modality (default: from its extension)")
    s.add_argument("--run", help="the run to embed the query with (default: the one the index names)")
    s.add_argument("--backend", default="exact", choices=["exact", "faiss"], help="exact (numpy) or faiss (HNSW)")
    s.add_argument("--show", type=non_negative_int, default=5, help="queries whose neighbours are printed")
    s.add_argument("--json", action="store_true")
    add_device(s)
    s.set_defaults(fn=cmd_search)

    v = sub.add_parser("serve", help="an HTTP API and demo page for a run: embed, predict, generate, search")
    v.add_argument("run")
    v.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (this machine only); 0.0.0.0 to share it")
    v.add_argument("--port", type=non_negative_int, default=8000, help="0: any free port")
    v.add_argument("--index", help="an index from `omnivec index` for /search and the page's neighbours")
    v.add_argument(
        "--max-batch", type=positive_int, default=32, help="requests run together in one forward pass (1: none)"
    )
    v.add_argument(
        "--max-wait-ms", type=non_negative_float, default=5.0, help="how long a request waits for others to join"
    )
    v.add_argument("--max-upload-mb", type=positive_float, default=25.0, help="larger request bodies are refused (413)")
    v.add_argument("--max-text-kb", type=positive_float, default=256.0, help="longer text inputs are refused (413)")
    v.add_argument(
        "--header-timeout", type=positive_float, default=10.0, help="seconds a client has to send a request's head"
    )
    v.add_argument(
        "--body-timeout", type=positive_float, default=60.0, help="seconds a request body may take to arrive (408)"
    )
    v.add_argument(
        "--max-connections", type=positive_int, default=128, help="beyond this many connections, requests get 503"
    )
    v.add_argument(
        "--max-decodes",
        type=positive_int,
        default=2,
        help="uploads decoded at the same time (each up to its reader limit in memory); more wait their turn",
    )
    add_decoding(v, "generation (UnIVAL; a request's own fields override these)")
    add_device(v)
    v.set_defaults(fn=cmd_serve)
