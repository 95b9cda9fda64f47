"""A build's output files and sizes, from webpack stats, an esbuild metafile (Angular's
application builder), a plain manifest, or a directory.

Accepted documents:

- webpack ``stats.json``: ``{"assets": [{"name", "size"}],
  "chunks": [{"names", "files", "initial"}]}``
- esbuild metafile: ``{"outputs": {"dist/main-HASH.js": {"bytes": n, "entryPoint": "..."}}}``
- a manifest: ``{"files": [{"name", "size", "chunks"?, "initial"?}]}`` or ``{"main.js": 1234}``
  (there every key must be a file name with an extension: anything else is a document of
  another kind, which must not pass as a build of oddly named files)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from collector.budgets.lab.bundles import BuildFile, parse_size
from collector.errors import InvalidInput

# Angular and most bundlers name the chunks loaded at start like this.
_INITIAL_CHUNKS = frozenset({"main", "polyfills", "runtime", "styles", "vendor", "index"})
_CHUNK_NAME = re.compile(r"^([A-Za-z0-9_]+?)(?:[-.][A-Za-z0-9_]{6,})?\.[A-Za-z0-9]+$")
_FILE_NAME = re.compile(r"[^/]\.[A-Za-z0-9]+$")
_EXPECTED = (
    "expected webpack stats (assets), an esbuild metafile (outputs), "
    'or a manifest {"files": [{"name", "size"}]} or {"main.js": size}'
)


def chunk_name(file_name: str) -> str:
    """``main-5XK2BZ3Q.js`` -> ``main``: the chunk a hashed file name belongs to."""
    base = file_name.rsplit("/", 1)[-1]
    match = _CHUNK_NAME.match(base)
    return match.group(1) if match else base.split(".", 1)[0]


def _by_name(name: str, size: int) -> BuildFile:
    chunk = chunk_name(name)
    return BuildFile(name=name, size=size, chunks=(chunk,), initial=chunk in _INITIAL_CHUNKS)


def files_from_document(document: object) -> list[BuildFile]:
    """The build files a stats, metafile or manifest document describes (at least one)."""
    files = _files_of(document)
    if not files:
        # An empty build is under every size budget: a wrong path must not pass as one.
        raise InvalidInput("bundle stats list no files; is it the built output?")
    return files


def _files_of(document: object) -> list[BuildFile]:
    if isinstance(document, dict) and isinstance(document.get("assets"), list):
        return _from_webpack(document)
    if isinstance(document, dict) and isinstance(document.get("outputs"), dict):
        return _from_esbuild(document["outputs"])
    if isinstance(document, dict) and isinstance(document.get("files"), list):
        return [_from_entry(entry, i) for i, entry in enumerate(document["files"])]
    if isinstance(document, dict) and document:
        return _from_sizes(document)
    raise InvalidInput(f"bundle stats: {_EXPECTED}")


def _from_sizes(sizes: dict[str, object]) -> list[BuildFile]:
    """``{"main.js": 1234}``: file names and their sizes."""
    odd = next((name for name in sizes if not _FILE_NAME.search(str(name))), None)
    if odd is not None:
        raise InvalidInput(
            f"bundle stats: {str(odd)[:100]!r} is not a file name with an extension; {_EXPECTED}"
        )
    return [
        _by_name(str(name), int(parse_size(size, where=f"files[{name!r}]")))
        for name, size in sizes.items()
    ]


def _from_entry(entry: object, index: int) -> BuildFile:
    where = f"files[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise InvalidInput(f'{where}: expected {{"name": ..., "size": ...}}')
    size = int(parse_size(entry.get("size"), where=f"{where}.size"))
    chunks = entry.get("chunks")
    if chunks is not None and not (
        isinstance(chunks, list) and all(isinstance(c, str) for c in chunks)
    ):
        raise InvalidInput(f"{where}.chunks: must be a list of chunk names")
    default = _by_name(entry["name"], size)
    return BuildFile(
        name=entry["name"],
        size=size,
        chunks=tuple(chunks) if chunks is not None else default.chunks,
        initial=bool(entry.get("initial", default.initial)),
    )


def _from_webpack(stats: dict[str, Any]) -> list[BuildFile]:
    chunks_of: dict[str, set[str]] = {}
    initial: set[str] = set()
    for chunk in stats.get("chunks") or []:
        if not isinstance(chunk, dict):
            continue
        for file_name in chunk.get("files") or []:
            chunks_of.setdefault(file_name, set()).update(chunk.get("names") or [])
            if chunk.get("initial"):
                initial.add(file_name)
    files = []
    for i, asset in enumerate(stats["assets"]):
        if not isinstance(asset, dict) or not isinstance(asset.get("name"), str):
            raise InvalidInput(f"stats.assets[{i}]: expected {{name, size}}")
        name = asset["name"]
        if name.endswith(".map"):
            continue
        size = int(parse_size(asset.get("size"), where=f"stats.assets[{i}].size"))
        files.append(
            BuildFile(
                name=name,
                size=size,
                chunks=tuple(sorted(chunks_of.get(name, ()))),
                initial=name in initial,
            )
        )
    return files


def _from_esbuild(outputs: dict[str, Any]) -> list[BuildFile]:
    files = []
    for name, output in outputs.items():
        if name.endswith(".map"):
            continue
        if not isinstance(output, dict):
            raise InvalidInput(f"metafile.outputs[{name!r}]: expected an object with bytes")
        size = int(parse_size(output.get("bytes"), where=f"metafile.outputs[{name!r}].bytes"))
        chunk = chunk_name(name)
        is_initial = bool(output.get("entryPoint")) or chunk in _INITIAL_CHUNKS
        files.append(BuildFile(name=name, size=size, chunks=(chunk,), initial=is_initial))
    return files


def files_from_directory(directory: Path) -> list[BuildFile]:
    """Every file under ``directory`` (source maps excepted), with its size on disk."""
    return [
        _by_name(path.relative_to(directory).as_posix(), path.stat().st_size)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.name.endswith(".map")
    ]
