"""Point clouds: OFF meshes, PLY (ascii / binary little/big-endian), .npy/.npz, .xyz/.txt -> (P, 3).

Meshes (OFF, PLY with faces) are sampled on their surface with area-weighted triangles (as in the PointNet /
ModelNet preprocessing); vertex-only files are resampled from their vertices. The result is centred at its
mean and scaled so the farthest point lies on the unit sphere. Sampling is seeded, so a file always gives the
same points.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from omnivec.data.readers.arrays import array_header, load_array
from omnivec.data.readers.validate import MAX_ARRAY_ELEMENTS, check_count, check_finite, existing_file
from omnivec.data.root import StrPath
from omnivec.errors import DataError
from omnivec.types import Modality

MAX_POINTS = 50_000_000

PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


def read_points(
    path: StrPath, num_points: int | None = 1024, seed: int = 0, max_array_elements: int = MAX_ARRAY_ELEMENTS
) -> Tensor:
    """Any supported point file -> float32 (num_points, 3), centred, in the unit sphere; a .npy/.npz above
    ``max_array_elements`` (from its header) is refused before it is read."""
    p = existing_file(path)
    ext = p.suffix.lower()
    faces: np.ndarray | None = None
    if ext == ".off":
        verts, faces = _read_off(p)
    elif ext == ".ply":
        verts, faces = _read_ply(p)
    elif ext in (".npy", ".npz"):
        arr = load_array(p, ("points", "xyz", "pos", "pointcloud"), max_array_elements)
        if arr.ndim != 2 or arr.shape[1] < 3:
            raise DataError(p, f"point array has shape {arr.shape}; expected (P, 3) or (P, 3+features)")
        verts = arr[:, :3]
    elif ext in (".xyz", ".txt"):
        verts = _read_xyz(p)
    else:
        raise DataError(p, f"unknown point-cloud extension {ext!r}; expected .off .ply .npy .npz .xyz .txt")
    if not np.issubdtype(verts.dtype, np.number):
        raise DataError(p, f"point coordinates have dtype {verts.dtype}; expected numbers")
    verts = verts.astype(np.float64)
    if verts.shape[0] == 0:
        raise DataError(p, "no points")
    check_finite(verts, p, "point coordinates")
    rng = np.random.default_rng(seed)
    if num_points is None:
        pts = verts
    elif faces is not None and len(faces) > 0:
        pts = sample_surface(verts, faces, num_points, rng)
    else:
        pts = resample_points(verts, num_points, rng)
    return normalize_points(pts, p)


def normalize_points(pts: np.ndarray, path: StrPath = "<points>") -> Tensor:
    """Centre at the mean and scale into the unit sphere."""
    pts = pts - pts.mean(axis=0, keepdims=True)
    radius = float(np.sqrt((pts**2).sum(axis=1)).max())
    if not radius > 0:
        raise DataError(path, "degenerate point cloud: all points coincide")
    return torch.from_numpy((pts / radius).astype(np.float32))


def resample_points(pts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points: a random subset when there are enough, else all of them plus random repeats."""
    if len(pts) >= n:
        return pts[np.sort(rng.choice(len(pts), n, replace=False))]
    extra = rng.choice(len(pts), n - len(pts), replace=True)
    return np.concatenate([pts, pts[extra]])


def sample_surface(verts: np.ndarray, tris: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniformly on a triangle mesh: pick triangles by area, then uniform barycentric coordinates."""
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    if not area.sum() > 0:
        return resample_points(verts, n, rng)
    pick = rng.choice(len(tris), n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1  # reflect into the triangle
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    return a[pick] + u[:, None] * (b[pick] - a[pick]) + v[:, None] * (c[pick] - a[pick])


def _triangulate(polys: list[list[int]], num_verts: int, p: Path) -> np.ndarray:
    tris = [(poly[0], poly[i], poly[i + 1]) for poly in polys for i in range(1, len(poly) - 1)]
    if any(not 0 <= v < num_verts for tri in tris for v in tri):  # before numpy: 10**23 overflows int64
        raise DataError(p, f"a face refers to a vertex outside 0..{num_verts - 1}")
    return np.array(tris, dtype=np.int64).reshape(-1, 3)


def _tokens(p: Path) -> list[str]:
    try:
        text = p.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise DataError(p, "not an ASCII text file") from None
    lines = [ln.split("#", 1)[0] for ln in text.splitlines()]
    return [ln for ln in lines if ln.strip()]


def _read_off(p: Path) -> tuple[np.ndarray, np.ndarray]:
    lines = _tokens(p)
    if not lines or not lines[0].strip().upper().startswith("OFF"):
        raise DataError(p, "wrong format: an OFF file must start with 'OFF'")
    head = lines[0].strip()[3:].split()  # ModelNet has files with the counts glued on: "OFF490 518 0"
    rest = lines[1:]
    if not head:
        if not rest:
            raise DataError(p, "truncated OFF: no vertex/face counts")
        head, rest = rest[0].split(), rest[1:]
    try:
        nv, nf = int(head[0]), int(head[1])
    except (ValueError, IndexError):
        raise DataError(p, f"bad OFF counts line {' '.join(head)!r}") from None
    check_count(nv, p, "vertices", MAX_POINTS)
    check_count(nf, p, "faces", MAX_POINTS)
    if len(rest) < nv + nf:
        raise DataError(p, f"truncated OFF: declares {nv} vertices and {nf} faces, {len(rest)} lines present")
    try:
        verts = np.array([ln.split()[:3] for ln in rest[:nv]], dtype=np.float64)
        polys = [[int(t) for t in ln.split()[1 : 1 + int(ln.split()[0])]] for ln in rest[nv : nv + nf]]
    except ValueError as e:
        raise DataError(p, f"bad number in OFF body ({e})") from None
    if verts.shape != (nv, 3):
        raise DataError(p, "an OFF vertex line has fewer than 3 coordinates")
    return verts, _triangulate(polys, nv, p)


def _read_ply(p: Path) -> tuple[np.ndarray, np.ndarray | None]:
    with open(p, "rb") as f:
        if f.readline().strip() != b"ply":
            raise DataError(p, "wrong format: a PLY file must start with 'ply'")
        fmt = ""
        elements: list[tuple[str, int, list[tuple[str, ...]]]] = []
        while True:
            raw = f.readline()
            if not raw:
                raise DataError(p, "truncated PLY header (no end_header)")
            words = raw.decode("ascii", "replace").split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "end_header":
                break
            if words[0] == "format":
                fmt = words[1] if len(words) > 1 else ""
            elif words[0] == "element" and len(words) == 3:
                try:
                    count = int(words[2])
                except ValueError:
                    raise DataError(p, f"bad PLY element line {' '.join(words)!r}") from None
                check_count(count, p, f"{words[1]} elements", MAX_POINTS)
                elements.append((words[1], count, []))
            elif words[0] == "property" and elements:
                elements[-1][2].append(_ply_property(p, words, elements[-1]))
        body = f.read()
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise DataError(p, f"unsupported PLY format {fmt!r}")
    if not elements or elements[0][0] != "vertex":
        raise DataError(p, "PLY has no leading 'vertex' element")
    if fmt == "ascii":
        return _ply_ascii(p, body, elements)
    return _ply_binary(p, body, elements, "<" if fmt == "binary_little_endian" else ">")


def _ply_property(p: Path, words: list[str], element: tuple[str, int, list[tuple[str, ...]]]) -> tuple[str, ...]:
    """One ``property TYPE NAME`` or ``property list COUNT_TYPE ITEM_TYPE NAME`` line, checked: known types, and
    a name not already used in its element (numpy refuses duplicate field names with a bare ValueError)."""
    line = " ".join(words)
    types = words[2:4] if len(words) == 5 and words[1] == "list" else words[1:2]
    if len(words) != (5 if words[1:2] == ["list"] else 3):
        raise DataError(p, f"bad PLY property line {line!r}: expected 'property TYPE NAME' or a list property")
    unknown = [t for t in types if t not in PLY_TYPES]
    if unknown:
        raise DataError(p, f"bad PLY property line {line!r}: unknown type {unknown[0]!r}")
    name, (element_name, _, props) = words[-1], element
    if name in {pr[-1] for pr in props}:
        raise DataError(p, f"PLY element {element_name!r} declares the property {name!r} twice")
    return tuple(words[1:])


def _xyz_columns(p: Path, props: list[tuple[str, ...]]) -> list[int]:
    names = [pr[-1] for pr in props]
    if not {"x", "y", "z"} <= set(names):
        raise DataError(p, f"PLY vertex element lacks x/y/z properties (has {names})")
    return [names.index(c) for c in "xyz"]


def _ply_ascii(p: Path, body: bytes, elements: list) -> tuple[np.ndarray, np.ndarray | None]:
    lines = [ln for ln in body.decode("ascii", "replace").splitlines() if ln.strip()]
    (_, nv, vprops), pos = elements[0], 0
    if len(lines) < nv:
        raise DataError(p, f"truncated PLY: declares {nv} vertices, {len(lines)} lines present")
    cols = _xyz_columns(p, vprops)
    try:
        verts = np.array([[float(ln.split()[c]) for c in cols] for ln in lines[:nv]])
    except (ValueError, IndexError) as e:
        raise DataError(p, f"bad PLY vertex line ({e})") from None
    pos = nv
    faces = None
    for name, count, _props in elements[1:]:
        block = lines[pos : pos + count]
        if len(block) < count:
            raise DataError(p, f"truncated PLY: {name} element declares {count} lines, {len(block)} present")
        if name == "face":
            try:
                polys = [[int(t) for t in ln.split()[1 : 1 + int(ln.split()[0])]] for ln in block]
            except ValueError as e:
                raise DataError(p, f"bad PLY face line ({e})") from None
            faces = _triangulate(polys, nv, p)
        pos += count
    return verts, faces


def _ply_binary(p: Path, body: bytes, elements: list, order: str) -> tuple[np.ndarray, np.ndarray | None]:
    _, nv, vprops = elements[0]
    if any(pr[0] == "list" for pr in vprops):
        raise DataError(p, "PLY vertex element with list properties is not supported")
    try:
        vdtype = np.dtype([(pr[-1], order + PLY_TYPES[pr[0]]) for pr in vprops])
    except KeyError as e:
        raise DataError(p, f"unknown PLY property type {e}") from None
    need = nv * vdtype.itemsize
    if len(body) < need:
        raise DataError(p, f"truncated PLY: {nv} vertices need {need:,} bytes, {len(body):,} present")
    v = np.frombuffer(body, dtype=vdtype, count=nv)
    verts = np.stack([v[c].astype(np.float64) for c in ("x", "y", "z")], axis=1) if nv else np.zeros((0, 3))
    _xyz_columns(p, vprops)
    faces = None
    rest = body[need:]
    if len(elements) > 1 and elements[1][0] == "face":
        _, nf, fprops = elements[1]
        lst = next((pr for pr in fprops if pr[0] == "list"), None)
        if lst is not None and len(fprops) == 1:
            # the common case: every face a triangle -> one fixed-size record per face
            tdtype = np.dtype([("n", order + PLY_TYPES[lst[1]]), ("v", order + PLY_TYPES[lst[2]], (3,))])
            if len(rest) >= nf * tdtype.itemsize:
                rec = np.frombuffer(rest, dtype=tdtype, count=nf)
                if (rec["n"] == 3).all():
                    faces = _triangulate(rec["v"].astype(np.int64).tolist(), nv, p)
    return verts, faces  # non-triangle binary faces: fall back to the vertices


_SPLIT = re.compile(r"[,\s;]+")


def _read_xyz(p: Path) -> np.ndarray:
    lines = _tokens(p)
    rows = [_SPLIT.split(ln.strip()) for ln in lines]
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise DataError(p, f"ragged rows: lines have {sorted(widths)} columns")
    if rows[0] and len(rows[0]) < 3:
        raise DataError(p, f"{len(rows[0])} columns per line; expected x y z [features...]")
    try:
        return np.array([r[:3] for r in rows], dtype=np.float64)
    except ValueError as e:
        raise DataError(p, f"non-numeric value in point file ({e})") from None


def guess_array_modality(path: StrPath) -> Modality:
    """A .npy/.npz of shape (P, 3+) is a point cloud; (T, H, W) or (T, H, W, C) is a video. Only the header is
    read: the array's size is checked when it is read as the modality guessed."""
    shape, _ = array_header(Path(path), ("points", "xyz", "pos", "frames", "video"))
    if len(shape) == 2 and shape[1] >= 3:
        return Modality.POINTS
    if len(shape) in (3, 4):
        return Modality.VIDEO
    raise DataError(path, f"array of shape {shape} is neither points (P, 3) nor frames (T, H, W[, C])")
