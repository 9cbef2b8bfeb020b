"""The page itself: the data compressed into it, the size budget, and the CSP-pinned HTML.

Three kinds of data go into `report.html`:
- `data`: the overview (rates, gates, runs, warnings): small, plain JSON, parsed at once;
- `index`: one small entry per case (flags, scores, stop reason, length, a snippet, where its texts
  are), gzip-compressed and base64-encoded, decoded in the page with `DecompressionStream`;
- the bulk: one JSON line per prompt and per output with its findings ("entries"), cut into chunks
  of about `CHUNK_BYTES` that are gzip-compressed and base64-encoded separately. The page decodes a
  chunk when a case in it is opened (or a search or an export needs it) and parses only the lines it
  shows, so neither the file nor the first paint grows with the text.

Base64 in a `<script type="application/gzip">` element cannot close its element or carry markup;
the plain `data` block escapes `<`, `>`, `&`, U+2028/2029 and lone surrogates.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CHUNK_BYTES", "Bulk", "Encoded", "embed_json", "inline_assets", "json_line", "render_page",
           "truncation_limit"]

CHUNK_BYTES = 256 * 1024
"""Uncompressed bytes per bulk chunk: opening a case decodes one chunk (a few ms)."""
GZIP_LEVEL = 6
"""zlib's default: level 1 is ~2x faster to build and ~10% larger on real outputs."""
B64 = 4 / 3

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_CLOSES_ELEMENT = re.compile(r"</(script|style)|<!--", re.IGNORECASE)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)


def _escape_surrogates(text: str) -> str:
    # Lone surrogates would make the UTF-8 invalid; as \\uXXXX escapes they survive JSON.parse.
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_line(value: Any) -> str:
    """One entry: compact JSON (never a raw newline inside, so lines split on "\\n"), valid UTF-8."""
    text = _dumps(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _escape_surrogates(text)
    return text


def embed_json(value: Any) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` (so no `</script>` or `<!--`), no
    U+2028/2029, and lone surrogates escaped so the file stays valid UTF-8 and JS offsets stay exact."""
    text = _dumps(value)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return _escape_surrogates(text)


def _pack(raw: bytes) -> str:
    # mtime 0: the same runs give the same file.
    return base64.b64encode(gzip.compress(raw, GZIP_LEVEL, mtime=0)).decode("ascii")


@dataclass
class Encoded:
    """The compressed bulk: base64 chunks and the first entry index of each."""

    chunks: list[str]
    starts: list[int]
    raw_bytes: int

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.chunks)


class Bulk:
    """The entries' lines (compact JSON, in entry order), compressed chunk by chunk."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def raw_bytes(self) -> int:
        return sum(len(line.encode("utf-8")) + 1 for line in self.lines)

    def _cut(self) -> Iterator[tuple[int, bytes]]:
        start, size, parts = 0, 0, []
        for i, line in enumerate(self.lines):
            data = line.encode("utf-8")
            parts.append(data)
            size += len(data) + 1
            if size >= CHUNK_BYTES:
                yield start, b"\n".join(parts)
                start, size, parts = i + 1, 0, []
        if parts:
            yield start, b"\n".join(parts)

    def encode(self, workers: int = 2) -> Encoded:
        """Compress every chunk (zlib releases the GIL, so threads use the cores)."""
        starts: list[int] = []
        futures: list[Future[str]] = []
        raw = 0
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for start, data in self._cut():
                starts.append(start)
                raw += len(data)
                futures.append(pool.submit(_pack, data))
            chunks = [f.result() for f in futures]
        return Encoded(chunks, starts, raw)

    def ratio(self, blocks: int = 8) -> float:
        """Page bytes per raw byte (gzip, then base64), measured on `blocks` chunk-sized runs of lines
        spread over the bulk."""
        n = len(self.lines)
        raw = packed = 0
        for b in range(blocks):
            i, data = b * n // blocks, bytearray()
            while i < n and len(data) < CHUNK_BYTES:
                data += self.lines[i].encode("utf-8") + b"\n"
                i += 1
            if data:
                raw += len(data)
                packed += len(_pack(bytes(data)))
        return packed / raw if raw else 1.0


def truncation_limit(fixed_bytes: int, budget: int, ratio: float, lengths: Sequence[tuple[int, int, int]],
                     floor: int) -> int | None:
    """The most characters each truncatable output may keep so that the page fits `budget` bytes.

    `lengths` has, per truncatable entry, (its line's bytes, its output's bytes, its output's
    characters); `fixed_bytes` is what the page holds anyway (page, index, entries kept whole); `ratio`
    is page bytes per raw byte. None when everything fits whole; never below `floor` (the page is
    then larger than the budget)."""
    if not lengths:
        return None
    arr = np.array(lengths, dtype=np.float64).reshape(-1, 3)
    line, out, chars = arr[:, 0], arr[:, 1], np.maximum(arr[:, 2], 1)

    def size(limit: float) -> float:
        kept = np.where(chars <= limit, out, out * limit / chars)
        return fixed_bytes + float((line - out + kept).sum()) * ratio

    longest = int(chars.max())
    if size(longest) <= budget:
        return None
    if size(floor) > budget:
        return floor
    lo, hi = floor, longest
    while hi - lo > 8:
        mid = (lo + hi) // 2
        if size(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


# --- the page -------------------------------------------------------------------------------------


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _asset(name: str) -> str:
    return resources.files("evalgen.report").joinpath(name).read_text(encoding="utf-8")


def page_overhead() -> int:
    """Bytes of the page without its data (script, style, markup)."""
    return sum(len(_asset(n).encode("utf-8")) for n in ("report.js", "report.css", "report.html"))


def inline_assets(page: str) -> tuple[str, str, str]:
    """(script, style, Content-Security-Policy) of a self-contained page: `page`.js and `page`.css, inlined,
    and a policy under which only those exact two run (their hashes pin them; everything else is refused)."""
    js, css = _asset(f"{page}.js"), _asset(f"{page}.css")
    if _CLOSES_ELEMENT.search(js + css):  # an inlined asset must not end its own element early
        raise RuntimeError(f"{page}.js/{page}.css must not contain '</script', '</style' or '<!--'")
    csp = "; ".join([
        "default-src 'none'",
        f"script-src {_csp_hash(js)}",
        f"style-src {_csp_hash(css)}",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
    ])
    return js, css, csp


def render_page(out: Path, data: dict[str, Any], index: str, bulk: Encoded) -> int:
    """Write the page to `out` (streamed: the bulk is never joined into one string); returns its size."""
    js, css, csp = inline_assets("report")
    fill = {"CSP": csp, "TITLE": html.escape(data["title"]), "CSS": css, "JS": js,
            "DATA": embed_json(data), "INDEX": index}
    template = _asset("report.html")
    head, tail = template.split("@@CHUNKS@@")
    # One pass, so a placeholder-like string inside the data is never substituted again.
    def sub(text: str) -> str:
        return re.sub(r"@@(CSP|TITLE|CSS|JS|DATA|INDEX)@@", lambda m: fill[m.group(1)], text)

    with out.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(sub(head))
        for i, chunk in enumerate(bulk.chunks):
            fh.write(f'<script type="application/gzip" id="c{i}">{chunk}</script>\n')
        fh.write(sub(tail))
    return out.stat().st_size


def pack_index(value: Any) -> str:
    return _pack(json_line(value).encode("utf-8"))
