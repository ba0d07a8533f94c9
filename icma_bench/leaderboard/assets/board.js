// icma-bench leaderboard page: tables, filters and score-vs-parameters plots, drawn from the embedded board.json.
// Vanilla JS, no network. Every piece of board data enters the page through textContent or setAttribute.
(function () {
  "use strict";
  var board = JSON.parse(document.getElementById("board-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";
  var TASKS = Object.keys(board.metrics);
  var CONVENTIONS = Object.keys(board.conventions || {});
  var BUCKETS = [["lt100m", "<100M"], ["100m-1b", "100M\u20131B"], ["1b-10b", "1\u201310B"],
    [">10b", ">10B"], ["api", "unknown / API"]];
  var PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7F7F7F", "#000000"];
  var COLUMNS = [
    {key: "model", label: "Model"}, {key: "params", label: "Params", num: true}, {key: "family", label: "Family"},
    {key: "method", label: "Method"}, {key: "shots", label: "Shots", num: true},
    {key: "convention", label: "Convention"}, {key: "kind", label: "Kind"},
    {key: "training_flag", label: "Training"}];
  var rows = board.rows || [];
  var families = uniq(rows.map(function (r) { return r.family; }));
  var state = {conv: {}, sort: {}, open: {}};

  function uniq(values) {
    var seen = {}, out = [];
    values.forEach(function (v) {
      if (v !== null && v !== undefined && !seen["k" + v]) { seen["k" + v] = true; out.push(String(v)); }
    });
    return out.sort();
  }
  function bucket(p) {
    if (p === null || p === undefined) return "api";
    if (p < 1e8) return "lt100m";
    if (p < 1e9) return "100m-1b";
    if (p < 1e10) return "1b-10b";
    return ">10b";
  }
  function h(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function s(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(v) { return (v === null || v === undefined) ? "\u2013" : Number(v).toFixed(3); }
  function score(row, m) { var sc = row.scores && row.scores[m]; return sc && typeof sc.value === "number" ? sc : null; }
  function paramsText(p) {
    if (p >= 1e9) return (p / 1e9).toFixed(p >= 1e10 ? 0 : 1).replace(/\.0$/, "") + "B";
    if (p >= 1e6) return (p / 1e6).toFixed(p >= 1e7 ? 0 : 1).replace(/\.0$/, "") + "M";
    return (p / 1e3).toFixed(0) + "K";
  }
  function color(family) { return PALETTE[families.indexOf(String(family)) % PALETTE.length]; }
  function ciText(sc) {
    return (sc && typeof sc.low === "number" && typeof sc.high === "number")
      ? "95% interval [" + fmt(sc.low) + ", " + fmt(sc.high) + "]" : "";
  }

  // ---- filters ----------------------------------------------------------------------------------------------
  function addSelect(bar, id, label, options) {
    var wrap = h("label", {"for": id}, label + " ");
    var select = h("select", {id: id});
    select.appendChild(h("option", {value: ""}, "all"));
    options.forEach(function (o) { select.appendChild(h("option", {value: o[0]}, o[1])); });
    select.addEventListener("change", renderAll);
    bar.appendChild(wrap);
    bar.appendChild(select);
  }
  function pairs(values) { return values.map(function (v) { return [v, v]; }); }
  function buildFilters() {
    var bar = document.getElementById("filters");
    var present = uniq(rows.map(function (r) { return bucket(r.params); }));
    addSelect(bar, "filter-family", "Family", pairs(families));
    addSelect(bar, "filter-size", "Size", BUCKETS.filter(function (b) { return present.indexOf(b[0]) >= 0; }));
    addSelect(bar, "filter-method", "Method", pairs(uniq(rows.map(function (r) { return r.method; }))));
    addSelect(bar, "filter-training", "Training", pairs(uniq(rows.map(function (r) { return r.training_flag; }))));
    ["measured", "reported"].forEach(function (kind) {
      var id = "filter-kind-" + kind;
      var box = h("input", {type: "checkbox", id: id});
      box.checked = true;
      box.addEventListener("change", renderAll);
      bar.appendChild(box);
      bar.appendChild(h("label", {"for": id}, kind));
    });
  }
  function value(id) { return document.getElementById(id).value; }
  function visible(task) {
    var fam = value("filter-family"), size = value("filter-size"), method = value("filter-method");
    var train = value("filter-training"), conv = state.conv[task];
    return rows.filter(function (r) {
      return r.task === task && (conv === "" || r.convention === conv) && (!fam || String(r.family) === fam) &&
        (!size || bucket(r.params) === size) && (!method || r.method === method) &&
        (!train || r.training_flag === train) && document.getElementById("filter-kind-" + r.kind) !== null &&
        document.getElementById("filter-kind-" + r.kind).checked;
    });
  }

  // ---- tables -----------------------------------------------------------------------------------------------
  function sortKey(row, key) {
    if (key.indexOf("m:") === 0) { var sc = score(row, key.slice(2)); return sc ? sc.value : null; }
    var v = row[key];
    return v === undefined ? null : v;
  }
  function sorted(task, list) {
    var st = state.sort[task], sign = st.dir === "asc" ? 1 : -1;
    return list.map(function (r, i) { return [r, i]; }).sort(function (a, b) {
      var x = sortKey(a[0], st.key), y = sortKey(b[0], st.key);
      if (x === null && y === null) return a[1] - b[1];
      if (x === null) return 1;
      if (y === null) return -1;
      var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
      return c !== 0 ? sign * c : a[1] - b[1];
    }).map(function (p) { return p[0]; });
  }
  function details(row) {
    var src = row.source || {}, counts = row.counts || {};
    return [
      ["Source", [src.name, src.file].filter(Boolean).join(" \u2014 ")], ["Signature", row.signature],
      ["Decoding", row.decoding], ["Shots", row.shots], ["Retriever", row.retriever],
      ["Training data", row.training_data], ["Training", row.training_flag],
      ["Caption tokenizer", row.caption_tokenizer],
      ["Counts", Object.keys(counts).map(function (k) { return k + " " + counts[k]; }).join(", ")],
      ["Reported as", row.reported_as], ["Notes", row.notes]
    ].filter(function (p) { return p[1] !== null && p[1] !== undefined && p[1] !== ""; });
  }
  function detailRow(row, span) {
    var tr = h("tr", {"class": "detail", "data-for": row.id}), td = h("td", {colspan: span}), dl = h("dl");
    details(row).forEach(function (p) {
      dl.appendChild(h("dt", {}, p[0]));
      var dd = h("dd", {}, p[1]);
      dl.appendChild(dd);
    });
    var url = row.source && row.source.url;
    if (typeof url === "string" && /^https?:\/\//i.test(url)) {
      dl.appendChild(h("dt", {}, "Link"));
      var dd = h("dd");
      dd.appendChild(h("a", {href: url, rel: "noopener noreferrer"}, url));
      dl.appendChild(dd);
    }
    td.appendChild(dl);
    tr.appendChild(td);
    return tr;
  }
  function scoreCell(row, m) {
    var td = h("td", {"class": "score", "data-metric": m.name}), sc = score(row, m.name);
    if (!sc) { td.textContent = "\u2013"; return td; }
    var best = (row.best || []).indexOf(m.name) >= 0, tied = (row.tied_with_best || []).indexOf(m.name) >= 0;
    var v = h(best ? "strong" : "span", {"class": "value"}, fmt(sc.value));
    td.appendChild(v);
    if (tied) td.appendChild(h("span", {"class": "tied", title: "not significantly different from the best, paired bootstrap"}, "\u2248"));
    var ci = ciText(sc);
    td.setAttribute("title", ci || (row.kind === "reported" ? "reported in the paper; no interval" : "no interval"));
    if (ci) td.appendChild(h("span", {"class": "ci"}, fmt(sc.low) + "\u2013" + fmt(sc.high)));
    if (best) td.classList.add("best");
    return td;
  }
  function renderTable(task) {
    var metrics = board.metrics[task], table = document.getElementById("table-" + task);
    var st = state.sort[task];
    table.querySelectorAll("th").forEach(function (th) {
      var on = th.getAttribute("data-key") === st.key;
      th.setAttribute("aria-sort", on ? (st.dir === "asc" ? "ascending" : "descending") : "none");
      th.querySelector(".sort-ind").textContent = on ? (st.dir === "asc" ? " \u25B4" : " \u25BE") : "";
    });
    var tbody = table.tBodies[0], span = COLUMNS.length + metrics.length, list = sorted(task, visible(task));
    tbody.textContent = "";
    list.forEach(function (row) {
      var tr = h("tr", {"class": "row" + (row.kind === "reported" ? " reported" : ""), "data-id": row.id,
        "data-kind": row.kind, "data-family": row.family, "data-convention": row.convention});
      tr.setAttribute("title", details(row).map(function (p) { return p[0] + ": " + p[1]; }).join("\n"));
      COLUMNS.forEach(function (c) {
        var td = h("td", {"data-key": c.key});
        if (c.key === "model") {
          td.appendChild(h("span", {"class": "model"}, row.model));
          var btn = h("button", {type: "button", "class": "more", "aria-expanded": String(!!state.open[row.id]),
            "aria-label": "details", title: "details"}, "\u25B8");
          btn.addEventListener("click", function () { state.open[row.id] = !state.open[row.id]; renderTable(task); });
          td.appendChild(btn);
        } else if (c.key === "params") {
          td.textContent = row.params_label || (row.params ? paramsText(row.params) : "API, size unknown");
        } else {
          td.textContent = (row[c.key] === null || row[c.key] === undefined) ? "\u2013" : String(row[c.key]);
        }
        tr.appendChild(td);
      });
      metrics.forEach(function (m) { tr.appendChild(scoreCell(row, m)); });
      tbody.appendChild(tr);
      if (state.open[row.id]) tbody.appendChild(detailRow(row, span));
    });
    if (!list.length) {
      var tr = h("tr", {"class": "empty"});
      tr.appendChild(h("td", {colspan: span}, "No row matches the filters."));
      tbody.appendChild(tr);
    }
  }
  function clickSort(task, key, metric) {
    var st = state.sort[task];
    if (st.key === key) st.dir = st.dir === "asc" ? "desc" : "asc";
    else state.sort[task] = {key: key, dir: metric ? (metric.higher_is_better ? "desc" : "asc") : "asc"};
    renderTable(task);
  }
  function buildTable(task, section) {
    var metrics = board.metrics[task], table = h("table", {id: "table-" + task, "class": "board"});
    var tr = h("tr");
    COLUMNS.concat(metrics.map(function (m) { return {key: "m:" + m.name, label: m.label, metric: m}; }))
      .forEach(function (c) {
        var th = h("th", {scope: "col", tabindex: "0", "data-key": c.key});
        th.appendChild(h("span", {}, c.label));
        if (c.metric) {
          th.setAttribute("data-metric", c.metric.name);
          th.setAttribute("title", c.metric.higher_is_better ? "higher is better" : "lower is better");
          th.appendChild(h("span", {"class": "dir"}, c.metric.higher_is_better ? " \u2191" : " \u2193"));
        }
        th.appendChild(h("span", {"class": "sort-ind"}));
        th.addEventListener("click", function () { clickSort(task, c.key, c.metric); });
        th.addEventListener("keydown", function (e) {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); clickSort(task, c.key, c.metric); }
        });
        tr.appendChild(th);
      });
    table.appendChild(h("thead")).appendChild(tr);
    table.appendChild(h("tbody"));
    var wrap = h("div", {"class": "table-wrap"});
    wrap.appendChild(table);
    section.appendChild(wrap);
    var first = metrics.filter(function (m) { return m.headline; })[0] || metrics[0];
    state.sort[task] = {key: "m:" + first.name, dir: first.higher_is_better ? "desc" : "asc"};
  }

  // ---- plots ------------------------------------------------------------------------------------------------
  function niceStep(span) {
    var raw = span / 4, mag = Math.pow(10, Math.floor(Math.log10(raw))), n = raw / mag;
    return mag * (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10);
  }
  function drawPoint(g, row, sc, m, x, y, yOf) {
    var c = color(row.family);
    if (typeof sc.low === "number" && typeof sc.high === "number") {
      g.appendChild(s("line", {"class": "errbar", x1: x, x2: x, y1: yOf(sc.low), y2: yOf(sc.high), stroke: c}));
    }
    var pt = s("circle", {"class": "point " + row.kind + (row.params === null || row.params === undefined ? " api" : ""),
      "data-id": row.id, cx: x, cy: y, r: 4, stroke: c, "stroke-width": 1.5,
      fill: row.kind === "reported" ? "#ffffff" : c, tabindex: "0"});
    var ci = ciText(sc);
    pt.appendChild(s("title", {}, row.model + " (" + (row.params_label || "") + ", " + row.method + ", " + row.kind +
      "): " + m.label + " " + fmt(sc.value) + (ci ? ", " + ci : "")));
    g.appendChild(pt);
  }
  function renderPlot(task, m, list, hasApi) {
    var svg = document.getElementById("plot-" + task + "-" + m.name);
    svg.textContent = "";
    var W = 320, H = 250, L = 52, T = 28, B = 44, R = 12, API = hasApi ? 64 : 0;
    var x1 = W - R - API - (hasApi ? 10 : 0), y1 = H - B;
    svg.appendChild(s("title", {}, m.label + " vs parameters (" + task + ")"));
    svg.appendChild(s("text", {x: L, y: 16, "class": "plot-title"}, m.label + (m.higher_is_better ? " \u2191" : " \u2193")));
    var pts = list.map(function (r) { return [r, score(r, m.name)]; }).filter(function (p) { return p[1]; });
    if (!pts.length) { svg.appendChild(s("text", {x: W / 2, y: H / 2, "class": "nodata", "text-anchor": "middle"}, "no data for the active filters")); return; }
    var ys = [];
    pts.forEach(function (p) { [p[1].value, p[1].low, p[1].high].forEach(function (v) { if (typeof v === "number") ys.push(v); }); });
    var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
    if (hi - lo < 1e-9) { lo -= 0.05; hi += 0.05; }
    var pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
    var yOf = function (v) { return T + (hi - v) / (hi - lo) * (y1 - T); };
    // Weight-free baselines have no size: a dashed reference line across the size axis, never in the API strip.
    // Rows scored on a subset of the documents (the fine-tuning miniature) are not comparable: tables only.
    pts = pts.filter(function (p) { return p[0].n_documents == null || p[0].n_documents === board.n_documents; });
    var baselines = pts.filter(function (p) { return p[0].method === "baseline"; });
    pts = pts.filter(function (p) { return p[0].method !== "baseline"; });
    var sized = pts.filter(function (p) { return typeof p[0].params === "number"; });
    var api = pts.filter(function (p) { return typeof p[0].params !== "number"; });
    var ls = sized.map(function (p) { return Math.log10(p[0].params); });
    var a = ls.length ? Math.min.apply(null, ls) : 8, b = ls.length ? Math.max.apply(null, ls) : 9;
    if (b - a < 0.5) { a -= 0.5; b += 0.5; } else { a -= 0.15; b += 0.15; }
    var xOf = function (p) { return L + (Math.log10(p) - a) / (b - a) * (x1 - L); };
    var axes = s("g", {"class": "axes"});
    axes.appendChild(s("rect", {x: L, y: T, width: x1 - L, height: y1 - T, "class": "frame"}));
    var step = niceStep(hi - lo), dec = Math.max(0, -Math.floor(Math.log10(step)));
    for (var v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      axes.appendChild(s("line", {x1: L, x2: x1, y1: yOf(v), y2: yOf(v), "class": "grid"}));
      axes.appendChild(s("text", {x: L - 4, y: yOf(v) + 3, "text-anchor": "end", "class": "tick"}, v.toFixed(dec)));
    }
    var ticks = [];
    for (var k = Math.floor(a); k <= Math.ceil(b); k++) [1, 2, 5].forEach(function (f) {
      var t = f * Math.pow(10, k);
      if (Math.log10(t) >= a && Math.log10(t) <= b) ticks.push(t);
    });
    if (ticks.length > 7) ticks = ticks.filter(function (t) { return Math.abs(Math.log10(t) % 1) < 1e-9; });
    ticks.forEach(function (t) {
      axes.appendChild(s("line", {x1: xOf(t), x2: xOf(t), y1: y1, y2: y1 + 4, "class": "tickmark"}));
      axes.appendChild(s("text", {x: xOf(t), y: y1 + 15, "text-anchor": "middle", "class": "tick"}, paramsText(t)));
    });
    axes.appendChild(s("text", {x: (L + x1) / 2, y: H - 8, "text-anchor": "middle", "class": "axis-label"}, "parameters (log scale)"));
    axes.appendChild(s("text", {x: 12, y: (T + y1) / 2, "text-anchor": "middle", "class": "axis-label",
      transform: "rotate(-90 12 " + (T + y1) / 2 + ")"}, m.label));
    svg.appendChild(axes);
    var series = {};
    sized.forEach(function (p) {
      var key = [p[0].family, p[0].method, p[0].kind].join("|");
      (series[key] = series[key] || []).push(p);
    });
    Object.keys(series).sort().forEach(function (key) {
      var ps = series[key].slice().sort(function (p, q) { return p[0].params - q[0].params; });
      if (ps.length < 2) return;
      var d = ps.map(function (p, i) { return (i ? "L" : "M") + xOf(p[0].params).toFixed(1) + " " + yOf(p[1].value).toFixed(1); }).join(" ");
      svg.appendChild(s("path", {d: d, "class": "series", fill: "none", stroke: color(ps[0][0].family),
        "stroke-dasharray": ps[0][0].kind === "reported" ? "4 3" : "none", "data-series": key}));
    });
    baselines.forEach(function (p) {
      var line = s("line", {"class": "baseline", x1: L, x2: x1, y1: yOf(p[1].value), y2: yOf(p[1].value),
        stroke: color(p[0].family), "stroke-dasharray": "2 3", "data-id": p[0].id});
      line.appendChild(s("title", {}, p[0].model + " (weight-free baseline): " + m.label + " " + fmt(p[1].value)));
      svg.appendChild(line);
    });
    var g = s("g", {"class": "points"});
    sized.forEach(function (p) { drawPoint(g, p[0], p[1], m, xOf(p[0].params), yOf(p[1].value), yOf); });
    if (hasApi) {
      var ax = W - R - API, panel = s("g", {"class": "api-panel"});
      panel.appendChild(s("rect", {x: ax, y: T, width: API, height: y1 - T, "class": "frame api"}));
      panel.appendChild(s("text", {x: ax + API / 2, y: y1 + 15, "text-anchor": "middle", "class": "tick"}, "API,"));
      panel.appendChild(s("text", {x: ax + API / 2, y: y1 + 27, "text-anchor": "middle", "class": "tick"}, "size unknown"));
      svg.appendChild(panel);
      api.forEach(function (p, i) { drawPoint(g, p[0], p[1], m, ax + (i + 1) * API / (api.length + 1), yOf(p[1].value), yOf); });
    }
    svg.appendChild(g);
  }
  function renderPlots(task) {
    var list = visible(task), hasApi = rows.some(function (r) {
      return r.task === task && typeof r.params !== "number" && r.method !== "baseline";
    });
    board.metrics[task].filter(function (m) { return m.headline; }).forEach(function (m) { renderPlot(task, m, list, hasApi); });
    var legend = document.getElementById("plot-legend-" + task);
    legend.textContent = "";
    uniq(list.map(function (r) { return r.family; })).forEach(function (f) {
      var item = h("span", {"class": "legend-item", "data-family": f});
      var sw = h("span", {"class": "swatch"});
      sw.style.backgroundColor = color(f);
      item.appendChild(sw);
      item.appendChild(document.createTextNode(f));
      legend.appendChild(item);
    });
    legend.appendChild(h("span", {"class": "legend-item"}, "\u25CF measured  \u25CB reported (paper)  | 95% interval"));
  }
  function buildPlots(task, section) {
    var wrap = h("div", {"class": "plots", id: "plots-" + task});
    board.metrics[task].filter(function (m) { return m.headline; }).forEach(function (m) {
      var fig = h("figure");
      var svg = s("svg", {id: "plot-" + task + "-" + m.name, "class": "plot", viewBox: "0 0 320 250", width: 320,
        height: 250, role: "img", "data-metric": m.name});
      fig.appendChild(svg);
      fig.appendChild(h("figcaption", {}, m.label + " vs parameters"));
      wrap.appendChild(fig);
    });
    section.appendChild(wrap);
    section.appendChild(h("p", {"class": "plot-legend", id: "plot-legend-" + task}));
  }

  // ---- page -------------------------------------------------------------------------------------------------
  function renderAll() {
    TASKS.forEach(function (t) { renderTable(t); renderPlots(t); });
  }
  function build() {
    buildFilters();
    var main = document.getElementById("tasks");
    TASKS.forEach(function (task) {
      var section = h("section", {id: "task-" + task, "class": "task"});
      section.appendChild(h("h2", {}, task));
      var convs = CONVENTIONS.filter(function (c) { return rows.some(function (r) { return r.task === task && r.convention === c; }); });
      var id = "convention-" + task, select = h("select", {id: id, "class": "convention"});
      convs.forEach(function (c) { select.appendChild(h("option", {value: c, title: board.conventions[c]}, c)); });
      select.appendChild(h("option", {value: ""}, "all conventions"));
      state.conv[task] = convs.indexOf("molt5") >= 0 ? "molt5" : (convs[0] || "");
      select.value = state.conv[task];
      var note = h("span", {"class": "convention-note"}, board.conventions[state.conv[task]] || "");
      select.addEventListener("change", function () {
        state.conv[task] = select.value;
        note.textContent = board.conventions[select.value] || "rows of every convention (do not compare across them)";
        renderAll();
      });
      var p = h("p", {"class": "convention-bar"});
      p.appendChild(h("label", {"for": id}, "Metric convention "));
      p.appendChild(select);
      p.appendChild(note);
      section.appendChild(p);
      buildTable(task, section);
      buildPlots(task, section);
      main.appendChild(section);
    });
    renderAll();
  }
  build();
})();
