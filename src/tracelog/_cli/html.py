"""``tracelog show ID --html PAGE``: one trace as a single self-contained HTML file.

The page needs no network: its CSS and its few lines of JavaScript are inline, and a Content
Security Policy allows that one script (by its hash) and nothing else, so even a value that
escaping missed could not run. Every value from the logs is escaped for HTML, after control
characters and bidi overrides are turned into visible escapes, as the terminal view does.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
from collections.abc import Mapping
from typing import Any

from tracelog._cli.pretty import duration, escape, exception_text
from tracelog._cli.records import LEVEL_RANK, Record
from tracelog._cli.spans import Span, build_tree, walk
from tracelog._cli.times import format_time

__all__ = ["page", "write"]

_ERROR = LEVEL_RANK["error"]
_COLOURS = 8

_SCRIPT = """\
(function () {
  var box = document.getElementById("filter");
  var shown = document.getElementById("shown");
  var lines = document.querySelectorAll("#lines .line");
  function apply() {
    var wanted = box.value.toLowerCase();
    var count = 0;
    for (var i = 0; i < lines.length; i++) {
      var hit = !wanted || lines[i].textContent.toLowerCase().indexOf(wanted) >= 0;
      lines[i].hidden = !hit;
      if (hit) count++;
    }
    shown.textContent = String(count);
  }
  box.addEventListener("input", apply);
  var rows = document.querySelectorAll(".span-row");
  for (var i = 0; i < rows.length; i++) {
    rows[i].addEventListener("click", function () {
      box.value = this.getAttribute("data-span") || "";
      apply();
    });
  }
  document.getElementById("expand").addEventListener("click", function () {
    var open = this.getAttribute("aria-pressed") !== "true";
    this.setAttribute("aria-pressed", open ? "true" : "false");
    this.textContent = open ? "collapse all" : "expand all";
    for (var i = 0; i < lines.length; i++) lines[i].open = open;
  });
  if (location.hash.indexOf("#filter=") === 0) {  // a link can carry a filter
    box.value = decodeURIComponent(location.hash.slice(8));
    apply();
  }
  document.body.setAttribute("data-ready", "1");
})();
"""

_STYLE = """\
:root { --fg: #1f2328; --dim: #656d76; --line: #d0d7de; --bg: #ffffff; --soft: #f6f8fa;
  --red: #cf222e; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
body { margin: 0; color: var(--fg); background: var(--bg); }
header, section { padding: 12px 20px; }
header { border-bottom: 1px solid var(--line); background: var(--soft); }
h1 { font-size: 18px; margin: 0 0 6px; font-weight: 600; }
h2 { font-size: 15px; margin: 0 0 8px; }
code, .mono, pre, .off, .dur { font-family: ui-monospace, "DejaVu Sans Mono", monospace;
  font-size: 12.5px; }
.facts { display: flex; flex-wrap: wrap; gap: 6px 20px; margin: 0; color: var(--dim); }
.facts b { color: var(--fg); font-weight: 600; }
.status { font-weight: 700; }
.status.failed { color: var(--red); }
.status.ok { color: #1a7f37; }
.failure { margin: 8px 0 0; color: var(--red); }
.failure .exc-last { display: block; font-family: ui-monospace, monospace; font-size: 12.5px; }
.chip { display: inline-block; padding: 0 7px; border-radius: 9px; color: #fff;
  font-size: 12px; line-height: 18px; white-space: nowrap; max-width: 100%; overflow: hidden;
  text-overflow: ellipsis; vertical-align: middle; }
.c0 { background: #0969da; } .c1 { background: #8250df; } .c2 { background: #1a7f37; }
.c3 { background: #bc4c00; } .c4 { background: #0a7b83; } .c5 { background: #bf3989; }
.c6 { background: #6e7781; } .c7 { background: #953800; }
.waterfall { border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
.span-row, .axis { display: grid; grid-template-columns: minmax(220px, 32%) 110px 80px 1fr;
  align-items: center; gap: 8px; padding: 3px 10px; border-top: 1px solid var(--soft); }
.axis { color: var(--dim); font-size: 12px; background: var(--soft); border-top: 0; }
.axis .ends { display: flex; justify-content: space-between; }
.span-row { cursor: pointer; }
.span-row:hover { background: var(--soft); }
.span-row .label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.span-row.err .label::after { content: " \\2717"; color: var(--red); font-weight: 700; }
.track { position: relative; height: 14px; background: var(--soft); border-radius: 3px; }
.bar { position: absolute; top: 0; bottom: 0; min-width: 2px; border-radius: 3px; }
.span-row.err .bar { outline: 2px solid var(--red); outline-offset: -1px; }
.dur { text-align: right; color: var(--dim); }
.tools { display: flex; gap: 10px; align-items: center; margin-bottom: 8px; }
#filter { flex: 0 1 360px; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px;
  font: inherit; }
.tools button { font: inherit; padding: 3px 10px; border: 1px solid var(--line);
  border-radius: 6px; background: var(--soft); cursor: pointer; }
.tools .count { color: var(--dim); }
.line { border-top: 1px solid var(--soft); }
.line summary { display: grid; grid-template-columns: 80px 52px 110px minmax(90px, 180px) 1fr;
  gap: 8px; padding: 3px 4px; cursor: pointer; list-style: none; align-items: baseline; }
.line summary::-webkit-details-marker { display: none; }
.line[open] summary { background: var(--soft); }
.off { color: var(--dim); text-align: right; }
.lvl { font-weight: 600; font-size: 12px; }
.lvl-error .lvl, .lvl-critical .lvl { color: var(--red); }
.lvl-warning .lvl { color: #9a6700; }
.lvl-debug .lvl, .lvl-trace .lvl { color: var(--dim); }
.logger { color: var(--dim); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.msg { overflow-wrap: anywhere; }
.lvl-error .msg, .lvl-critical .msg { color: var(--red); }
.detail { padding: 4px 10px 10px 96px; }
.fields { border-collapse: collapse; }
.fields th { text-align: left; color: var(--dim); font-weight: 500; padding: 1px 12px 1px 0;
  vertical-align: top; font-family: ui-monospace, monospace; font-size: 12.5px; }
.fields td { padding: 1px 0; font-family: ui-monospace, monospace; font-size: 12.5px;
  white-space: pre-wrap; overflow-wrap: anywhere; }
pre.exc { margin: 6px 0 0; padding: 8px; background: #fff8f8; border-left: 3px solid var(--red);
  white-space: pre-wrap; overflow-wrap: anywhere; }
.msg, .fields td, .label, .logger, pre, .chip { unicode-bidi: isolate; }
"""


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


_CSP = (
    "default-src 'none'; "
    f"script-src {_csp_hash(_SCRIPT)}; "
    "style-src 'unsafe-inline'; "
    "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _t(value: Any) -> str:
    """Text from the logs, safe in HTML text and in quoted attributes."""
    return html.escape(escape(value if isinstance(value, str) else str(value)), quote=True)


def _lines(text: str) -> str:
    """Text that may span lines (an exception, a dumped object): each line escaped, the line
    breaks kept; tabs and carriage returns still shown as escapes."""
    return "\n".join(_t(line) for line in text.split("\n"))


def _dump(value: Any) -> str:
    import json

    try:
        return json.dumps(value, ensure_ascii=False, indent=2, default=repr)
    except (ValueError, TypeError, RecursionError):
        return repr(value)


def _value(value: Any) -> str:
    if isinstance(value, str):
        return _lines(value)
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, (int, float)):
        return _t(repr(value))
    return _lines(_dump(value))


def _percent(x: float) -> str:
    return f"{max(0.0, min(x, 100.0)):.3f}%"


def page(trace_id: str, records: list[Record]) -> str:
    """The whole page for one trace; ``records`` in time order."""
    rows = walk(build_tree(records))
    starts = [s.start for _, s in rows if s.start is not None]
    ends = [s.end for _, s in rows if s.end is not None]
    t0 = min(starts) if starts else 0.0
    total = (max(ends) - t0) if ends else 0.0
    services = sorted({r.service for r in records if r.service})
    colour = {name: f"c{i % _COLOURS}" for i, name in enumerate(services)}
    failed = [r for r in records if r.rank >= _ERROR or r.exception is not None]
    times = [r.time for r in records if r.time is not None]

    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>trace {_t(trace_id[:8])} · tracelog</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        "<header>",
        f'<h1>trace <code id="trace-id">{_t(trace_id)}</code></h1>',
        '<p class="facts">',
        f"<span>start <b>{_t(format_time(min(times) if times else None).strip() or '-')}"
        " UTC</b></span>",
        f'<span>duration <b id="duration">{_t(duration(total))}</b></span>',
        f"<span><b>{len(records)}</b> lines</span>",
        f"<span><b>{len(rows)}</b> spans</span>",
        '<span id="services">services '
        + (" ".join(f'<span class="chip {colour[s]}">{_t(s)}</span>' for s in services) or "-")
        + "</span>",
        (
            '<span class="status failed" id="status">FAILED</span>'
            if failed
            else '<span class="status ok" id="status">OK</span>'
        ),
        "</p>",
    ]
    if failed:
        first = failed[0]
        where = f"{first.service or '-'} {first.logger or '-'}"
        out.append(
            f'<p class="failure" id="failure">failed: in {_t(where)}: {_t(first.message or "")}'
        )
        if first.exception is not None:
            last = exception_text(first.exception).strip().split("\n")[-1]
            out.append(f'<span class="exc-last">{_t(last)}</span>')
        out.append("</p>")
    out.append("</header>")

    out += [
        '<section id="spans"><h2>Spans</h2><div class="waterfall">',
        '<div class="axis"><span>span</span><span>service</span><span class="dur">duration</span>'
        f'<span class="ends"><span>0</span><span>{_t(duration(total))}</span></span></div>',
    ]
    for prefix, span in rows:
        out.append(_span_row(span, len(prefix) // 3, t0, total, colour))
    out.append("</div></section>")

    out += [
        '<section id="lines"><h2>Lines</h2>',
        '<div class="tools"><input id="filter" type="search" placeholder="filter lines '
        '(text, field, span id)" aria-label="filter lines" autocomplete="off">'
        '<button id="expand" type="button" aria-pressed="false">expand all</button>'
        f'<span class="count"><span id="shown">{len(records)}</span> of {len(records)} '
        "shown</span></div>",
    ]
    for rec in records:
        out.append(_line(rec, t0, colour))
    out += ["</section>", f"<script>{_SCRIPT}</script>", "</body></html>", ""]
    return "\n".join(out)


def _span_row(span: Span, depth: int, t0: float, total: float, colour: Mapping[str, str]) -> str:
    if span.start is None or total <= 0:
        left, width = 0.0, 100.0
    else:
        left = (span.start - t0) / total * 100
        width = span.duration / total * 100
    service = span.services[0] if span.services else None
    cls = colour.get(service or "", "c6")
    chips = " ".join(
        f'<span class="chip {colour.get(s, "c6")}">{_t(s)}</span>' for s in span.services
    )
    errors = f' data-errors="{len(span.errors)}"' if span.errors else ""
    return (
        f'<div class="span-row{" err" if span.errors else ""}" data-span="{_t(span.id or "")}"'
        f'{errors} title="{_t(span.label)}">'
        f'<span class="label" style="padding-left:{depth * 1.1:.1f}em">{_t(span.label)}</span>'
        f"<span>{chips}</span>"
        f'<span class="dur">{_t(duration(span.duration))}</span>'
        f'<span class="track"><span class="bar {cls}" '
        f'style="left:{_percent(left)};width:{_percent(width)}"></span></span></div>'
    )


def _line(rec: Record, t0: float, colour: Mapping[str, str]) -> str:
    offset = "" if rec.time is None else "+" + duration(max(rec.time - t0, 0.0))
    level = rec.level or "-"
    service = rec.service or "-"
    chip = f'<span><span class="chip {colour.get(service, "c6")}">{_t(service)}</span></span>'
    fields = {"span_id": rec.span_id, **rec.fields()} if rec.span_id else rec.fields()
    body = "".join(
        f"<tr><th>{_t(key)}</th><td>{_value(value)}</td></tr>" for key, value in fields.items()
    )
    exception = ""
    if rec.exception is not None:
        exception = f'<pre class="exc">{_lines(exception_text(rec.exception))}</pre>'
    # A line with an exception starts open: the failure is what the reader came for.
    opened = " open" if rec.exception is not None else ""
    return (
        f'<details class="line lvl-{_t(level)}"{opened}><summary>'
        f'<span class="off">{_t(offset)}</span>'
        f'<span class="lvl">{_t(level.upper()[:5])}</span>{chip}'
        f'<span class="logger">{_t(rec.logger or "-")}</span>'
        f'<span class="msg">{_t(rec.message or "")}</span></summary>'
        f'<div class="detail"><table class="fields">{body}</table>{exception}</div></details>'
    )


def write(path: str, trace_id: str, records: list[Record]) -> None:
    """Write the page to ``path`` (replaced whole, never half-written)."""
    text = page(trace_id, records)
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8", errors="backslashreplace") as out:
        out.write(text)
    os.replace(partial, path)
