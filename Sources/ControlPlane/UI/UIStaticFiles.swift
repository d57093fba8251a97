import HTTPTypes
import Hummingbird
import NIOCore

/// The UI's stylesheet and its one script, compiled into the binary so the server needs no asset folder and no
/// build step.
///
/// The script only enhances: the run page's log view polls `/ui/runs/{id}/log` for bytes after the offset it has,
/// and every page works without it (the run page keeps a plain refresh link).
enum UIStaticFiles {
    static let stylesheetPath = "/ui/static/outpost.css"
    static let scriptPath = "/ui/static/outpost.js"

    static func stylesheet() -> Response { response(stylesheetText, type: "text/css; charset=utf-8") }
    static func script() -> Response { response(scriptText, type: "text/javascript; charset=utf-8") }

    private static func response(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=300"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static let scriptText = #"""
        // Outpost web UI: the live log view. Polls the run's log endpoint for the bytes after the offset already
        // shown, appends them as text (never as markup), and stops once the run has finished.
        "use strict";
        (function () {
          var view = document.getElementById("log");
          if (!view) { return; }
          var source = view.getAttribute("data-source");
          var offset = Number(view.getAttribute("data-offset") || "0");
          var finished = view.getAttribute("data-finished") === "true";
          var state = document.getElementById("log-state");
          var status = document.getElementById("run-status");
          var delay = 1000;

          function show(text) { if (state) { state.textContent = text; } }
          function text(id, value) {
            var node = document.getElementById(id);
            if (node && value) { node.textContent = value; }
          }

          function poll() {
            fetch(source + "?from=" + offset, { credentials: "same-origin", headers: { "Accept": "application/json" } })
              .then(function (response) {
                if (!response.ok) { throw new Error("HTTP " + response.status); }
                return response.json();
              })
              .then(function (slice) {
                if (slice.text.length > 0) {
                  var atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - 4;
                  view.appendChild(document.createTextNode(slice.text));
                  if (atBottom) { view.scrollTop = view.scrollHeight; }
                }
                offset = slice.nextOffset;
                view.setAttribute("data-offset", String(offset));
                if (status && slice.status) {
                  status.textContent = slice.status;
                  status.className = "badge " + slice.tone;
                }
                text("run-started", slice.startedAt);
                text("run-finished", slice.finishedAt);
                text("run-duration", slice.duration);
                var actions = document.getElementById("run-actions");
                if (actions && !slice.cancellable) { actions.parentNode.removeChild(actions); }
                delay = 1000;
                if (slice.finished && offset >= slice.totalBytes) {
                  show("Run finished. Reload the page for its counts and manifest.");
                  view.setAttribute("data-finished", "true");
                  return;
                }
                show("Live: updating every second.");
                window.setTimeout(poll, slice.nextOffset < slice.totalBytes ? 50 : delay);
              })
              .catch(function () {
                delay = Math.min(delay * 2, 15000);
                show("Connection lost; retrying. Use the refresh link if this persists.");
                window.setTimeout(poll, delay);
              });
          }

          if (!finished) { show("Live: updating every second."); poll(); }
        })();
        """#

    static let stylesheetText = #"""
        :root {
          --ink: #1d2430; --muted: #5d6878; --line: #d9dee6; --paper: #ffffff; --wash: #f4f6f9;
          --accent: #1f5fbf; --accent-ink: #ffffff; --good: #1f7a3f; --warn: #9a6200; --bad: #b3261e; --busy: #1f5fbf;
          font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif;
          font-size: 15px; color: var(--ink); background: var(--wash);
        }
        * { box-sizing: border-box; }
        body { margin: 0; }
        a { color: var(--accent); text-decoration: none; }
        a:hover { text-decoration: underline; }
        header.top {
          display: flex; align-items: center; gap: 2rem; padding: 0 1.5rem; height: 3.25rem;
          background: #16202e; color: #e8edf4;
        }
        header.top .brand { color: #fff; font-weight: 700; letter-spacing: .02em; font-size: 1.1rem; }
        header.top nav { display: flex; gap: .25rem; flex: 1; }
        header.top nav a { color: #c5cfdc; padding: .4rem .7rem; border-radius: 4px; }
        header.top nav a:hover { background: #243246; text-decoration: none; }
        header.top nav a[aria-current="page"] { background: #2d3f59; color: #fff; }
        header.top form.sign-out button { color: #c5cfdc; }
        main { max-width: 1200px; margin: 0 auto; padding: 1.5rem; }
        h1 { font-size: 1.5rem; margin: .25rem 0 1.25rem; word-break: break-word; }
        h2 { font-size: 1.1rem; margin: 2rem 0 .75rem; }
        .table-wrap { overflow-x: auto; background: var(--paper); border: 1px solid var(--line); border-radius: 6px; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .5rem .75rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); background: #fafbfc; }
        tr:last-child td { border-bottom: none; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .85rem; }
        td code { word-break: break-all; }
        .badge {
          display: inline-block; padding: .1rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 600;
          background: #e6e9ee; color: var(--muted);
        }
        .badge.good { background: #dff3e6; color: var(--good); }
        .badge.warn { background: #fbefd6; color: var(--warn); }
        .badge.bad { background: #fbe3e1; color: var(--bad); }
        .badge.busy { background: #e1ebfa; color: var(--busy); }
        .notice { padding: .75rem 1rem; border-radius: 6px; border: 1px solid var(--line); background: var(--paper); }
        .notice.bad { border-color: #f0b8b3; background: #fdf1f0; color: var(--bad); }
        .notice.good { border-color: #b6dfc3; background: #f0faf3; color: var(--good); }
        .empty { color: var(--muted); font-style: italic; }
        dl.facts {
          display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1.5rem; margin: 0;
          background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.25rem;
        }
        dl.facts dt { color: var(--muted); }
        dl.facts dd { margin: 0; word-break: break-word; }
        .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 1rem; }
        .card { background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: 1rem 1.25rem; }
        .card .value { font-size: 1.8rem; font-weight: 700; }
        .card .label { color: var(--muted); }
        .toolbar { display: flex; gap: .75rem; align-items: center; margin: 0 0 1rem; flex-wrap: wrap; }
        .toolbar input[type=search] { flex: 1 1 20rem; width: auto; }
        .toolbar select { width: auto; }
        form.inline { display: inline; margin: 0; }
        form.stacked { background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: 1.25rem; max-width: 760px; }
        form.stacked label { display: block; font-weight: 600; margin: 1rem 0 .3rem; }
        form.stacked label:first-of-type { margin-top: 0; }
        form.stacked .hint { color: var(--muted); font-size: .85rem; margin: .25rem 0 0; }
        input[type=text], input[type=password], input[type=search], select, textarea {
          width: 100%; padding: .5rem .6rem; border: 1px solid #b9c1cc; border-radius: 4px; font: inherit; background: #fff;
        }
        textarea { min-height: 4.5rem; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85rem; }
        input:focus, select:focus, textarea:focus, button:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
        fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 1rem 0 0; padding: .5rem 1rem 1rem; }
        legend { color: var(--muted); padding: 0 .3rem; }
        .field-error { border-color: var(--bad) !important; }
        button {
          font: inherit; cursor: pointer; border-radius: 4px; padding: .45rem .9rem; border: 1px solid transparent;
        }
        button.primary, a.button {
          background: var(--accent); color: var(--accent-ink); border-radius: 4px; padding: .45rem .9rem;
        }
        a.button:hover { background: #184d9c; text-decoration: none; }
        a.card { color: inherit; }
        a.card:hover { text-decoration: none; border-color: var(--accent); }
        button.primary:hover { background: #184d9c; }
        button.secondary { background: #fff; color: var(--ink); border-color: #b9c1cc; }
        button.danger { background: #fff; color: var(--bad); border-color: #e3a7a2; }
        button.link { background: none; border: none; padding: 0; }
        .actions { margin-top: 1.25rem; display: flex; gap: .75rem; }
        .signin { max-width: 420px; margin: 4rem auto; }
        .log-head { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; }
        #log-state { color: var(--muted); font-size: .85rem; }
        pre.log {
          background: #0f1620; color: #d7dee8; padding: 1rem; border-radius: 6px; max-height: 28rem; overflow: auto;
          white-space: pre-wrap; word-break: break-word; margin: 0;
        }
        details { margin-top: 1rem; }
        details pre { background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: 1rem; overflow: auto; }
        .muted { color: var(--muted); }
        .crumbs { color: var(--muted); margin: -.75rem 0 1.25rem; word-break: break-word; }
        .small { font-size: .85rem; }
        figure.run-chart { margin: 0 0 1rem; }
        figure.run-chart rect.bar { fill: #b9c1cc; }
        figure.run-chart rect.bar.good { fill: var(--good); }
        figure.run-chart rect.bar.warn { fill: var(--warn); }
        figure.run-chart rect.bar.bad { fill: var(--bad); }
        figure.run-chart a:focus rect, figure.run-chart a:hover rect { opacity: .7; }
        .graph { overflow: auto; max-height: 75vh; background: var(--paper); border: 1px solid var(--line); border-radius: 6px; }
        svg.lineage { display: block; font-family: inherit; font-size: 12px; }
        svg.lineage .links path { fill: none; stroke: #9aa6b6; stroke-width: 1.2; }
        svg.lineage rect { fill: #eef2f7; stroke: #9aa6b6; }
        svg.lineage rect.k-table { fill: #e1ebfa; stroke: #7fa1d6; }
        svg.lineage rect.k-view, svg.lineage rect.k-materializedView { fill: #e6f4ea; stroke: #84bf98; }
        svg.lineage rect.k-dashboard, svg.lineage rect.k-sheet { fill: #fbefd6; stroke: #d9b26a; }
        svg.lineage rect.k-field, svg.lineage rect.k-dataSource, svg.lineage rect.k-customSQL { fill: #f1e8fb; stroke: #b49ad8; }
        svg.lineage rect.center { stroke: var(--ink); stroke-width: 2.5; }
        svg.lineage text { fill: var(--ink); }
        svg.lineage a:focus rect, svg.lineage a:hover rect { stroke: var(--accent); stroke-width: 2.5; }
        pre.secret { background: var(--paper); border: 1px dashed var(--good); padding: .6rem .8rem; border-radius: 4px; user-select: all; word-break: break-all; white-space: pre-wrap; }
        .catalog { display: grid; grid-template-columns: minmax(12rem, 16rem) 1fr; gap: 1.5rem; align-items: start; }
        .catalog .results { min-width: 0; }
        .facets { background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; }
        .facet h3 { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: .75rem 0 .4rem; }
        .facet:first-child h3 { margin-top: 0; }
        .facet ul, ul.plain { list-style: none; margin: 0; padding: 0; }
        .facet li { margin: .2rem 0; word-break: break-word; font-size: .9rem; }
        .tabs { display: flex; gap: .25rem; flex-wrap: wrap; margin: 0 0 1rem; }
        .tabs a { padding: .3rem .7rem; border: 1px solid var(--line); border-radius: 999px; background: var(--paper); }
        .tabs a[aria-current="page"] { background: var(--accent); color: var(--accent-ink); border-color: var(--accent); }
        .pager { display: flex; gap: 1rem; margin: .75rem 0; }
        th a { color: inherit; }
        a:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
        @media (max-width: 900px) { .catalog { grid-template-columns: 1fr; } }
        """#
}
