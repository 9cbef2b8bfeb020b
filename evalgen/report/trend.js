// The trend report: small multiples of every metric over steps, drawn as SVG from the embedded data.
// Every text from the data goes in through textContent / setAttribute, never as markup.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var W = 340, H = 170, L = 44, R = 10, T = 10, B = 24;
  var data = JSON.parse(document.getElementById("data").textContent);

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function sv(tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(v, kind) {
    if (v === null || v === undefined) return "–";
    if (kind === "rate") return (100 * v).toFixed(1) + "%";
    if (kind === "tokens") return v.toFixed(1);
    if (Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.001)) return v.toExponential(2);
    return v.toPrecision(3);
  }

  var steps = data.steps;
  var xs = steps.map(function (s) { return s.step; });
  (data.training ? Object.keys(data.training) : []).forEach(function (k) {
    xs = xs.concat(data.training[k].steps);
  });
  var xmin = Math.min.apply(null, xs), xmax = Math.max.apply(null, xs);
  if (xmin === xmax) { xmin -= 1; xmax += 1; }
  var pad = 0.04 * (xmax - xmin);
  xmin -= pad; xmax += pad;
  function X(step) { return L + (W - L - R) * (step - xmin) / (xmax - xmin); }

  function chart(title, sub, kind, points, opts) {
    // points: [{x, y, lo, hi, href, failed, best, tip}] (y may be null)
    var box = el("section", { "class": "chart", "data-metric": opts.key });
    box.appendChild(el("h3", {}, title));
    if (sub) box.appendChild(el("div", { "class": "sub" }, sub));
    var ys = [];
    points.forEach(function (p) { [p.y, p.lo, p.hi].forEach(function (v) { if (v !== null && v !== undefined) ys.push(v); }); });
    [opts.base, opts.gate].forEach(function (v) { if (v !== null && v !== undefined) ys.push(v); });
    var ymin = kind === "train" ? Math.min.apply(null, ys.length ? ys : [0]) : 0;
    var ymax = ys.length ? Math.max.apply(null, ys) : 1;
    if (kind === "acc") { ymin = 0; ymax = 1; }
    // Headroom above the highest point, but a share or a probability never beyond 1 on the axis.
    if (kind === "rate") ymax = Math.min(1, Math.max(0.05, ymax * 1.15));
    if (kind === "prob") ymax = Math.min(1, Math.max(0.05, ymax * 1.1));
    if (kind === "tokens") ymax = Math.max(1, ymax * 1.1);
    if (ymax === ymin) { ymax = ymin + 1; }
    function Y(v) { return T + (H - T - B) * (1 - (v - ymin) / (ymax - ymin)); }
    var svg = sv("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    svg.appendChild(sv("line", { "class": "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
    svg.appendChild(sv("line", { "class": "axis", x1: L, y1: T, x2: L, y2: H - B }));
    [ymin, (ymin + ymax) / 2, ymax].forEach(function (v) {
      svg.appendChild(sv("text", { x: L - 4, y: Y(v) + 3, "text-anchor": "end" }, fmt(v, kind === "rate" ? "rate" : "")));
    });
    var first = steps.length ? steps[0].step : 0, last = steps.length ? steps[steps.length - 1].step : 0;
    var ticks = steps.length <= 8 ? steps.map(function (s) { return s.step; }) : [first, Math.round((first + last) / 2), last];
    ticks.forEach(function (s) {
      svg.appendChild(sv("text", { x: X(s), y: H - B + 13, "text-anchor": "middle" }, String(s)));
    });
    if (data.first_failing_step !== null) {
      var fx = X(data.first_failing_step);
      svg.appendChild(sv("line", { "class": "onset", x1: fx, y1: T, x2: fx, y2: H - B, "data-role": "onset" }));
    }
    (opts.marks || []).forEach(function (f) {  // doctor findings on the training curves
      if (f.step === null || f.step === undefined) return;
      var mx = X(f.step);
      var ml = sv("line", { "class": "finding", x1: mx, y1: T, x2: mx, y2: H - B, "data-role": "finding",
                            "data-code": f.code });
      ml.appendChild(sv("title", {}, f.code + " at step " + f.step));
      svg.appendChild(ml);
    });
    if (opts.base !== null && opts.base !== undefined) {
      var bl = sv("line", { "class": "base", x1: L, y1: Y(opts.base), x2: W - R, y2: Y(opts.base), "data-role": "base" });
      bl.appendChild(sv("title", {}, "base: " + fmt(opts.base, kind)));
      svg.appendChild(bl);
    }
    if (opts.gate !== null && opts.gate !== undefined) {
      var gl = sv("line", { "class": "gate", x1: L, y1: Y(opts.gate), x2: W - R, y2: Y(opts.gate), "data-role": "gate",
                            "data-value": String(opts.gate) });
      gl.appendChild(sv("title", {}, "gate threshold: " + fmt(opts.gate, kind)));
      svg.appendChild(gl);
    }
    var path = "", pen = false;
    points.forEach(function (p) {
      if (p.y === null || p.y === undefined) { pen = false; return; }
      path += (pen ? " L" : " M") + X(p.x).toFixed(1) + " " + Y(p.y).toFixed(1);
      pen = true;
    });
    if (path) svg.appendChild(sv("path", { "class": kind === "train" ? "train" : "line", d: path.trim() }));
    points.forEach(function (p) {
      if (p.lo !== null && p.lo !== undefined && p.y !== null) {
        svg.appendChild(sv("line", { "class": "band", x1: X(p.x), y1: Y(p.lo), x2: X(p.x), y2: Y(p.hi) }));
      }
    });
    if (kind === "train") {
      points.forEach(function (p) {  // a non-finite value (null) is marked on the axis
        if (p.y === null) svg.appendChild(sv("text", { "class": "bad", x: X(p.x), y: T + 8, "text-anchor": "middle" }, "×"));
      });
    } else {
      points.forEach(function (p) {
        if (p.y === null || p.y === undefined) return;
        var cls = "pt" + (p.failed ? " failed" : "") + (p.best ? " best" : "");
        var holder = p.href ? sv("a", { href: p.href, "class": cls, "data-step": String(p.x) })
                            : sv("g", { "class": cls, "data-step": String(p.x) });
        holder.appendChild(sv("circle", { cx: X(p.x), cy: Y(p.y), r: 4.5 }));
        holder.appendChild(sv("title", {}, p.tip));
        svg.appendChild(holder);
      });
    }
    box.appendChild(svg);
    return box;
  }

  function header() {
    var top = document.getElementById("top");
    top.appendChild(el("h1", {}, data.title));
    var line = el("div");
    var newest = steps.length ? steps[steps.length - 1] : null;
    var failed = newest && newest.gates_failed.length;
    line.appendChild(el("span", { "class": "verdict " + (failed ? "fail" : "pass"), id: "verdict" },
      failed ? "newest step " + newest.step + " fails: " + newest.gates_failed.join(", ") : "newest step passes"));
    line.appendChild(el("span", { id: "first-failing" }, "first failing step: " +
      (data.first_failing_step === null ? "none" : data.first_failing_step) + " · "));
    line.appendChild(el("span", { id: "best-step" }, "best step: " + (data.best_step === null ? "none" : data.best_step)));
    top.appendChild(line);
    top.appendChild(el("div", { "class": "rule" }, "Gates against " + data.base_label + ". Best step: " + data.best_rule +
      ". Bars: 95% intervals. Click a point to open that step's case report."));
  }

  function stepPoints(get, getI, gates) {
    return steps.map(function (s) {
      var iv = getI(s);
      var failed = s.gates_failed.some(function (g) { return gates.indexOf(g) >= 0; });
      return { x: s.step, y: get(s), lo: iv ? iv[0] : null, hi: iv ? iv[1] : null, href: s.href,
               failed: failed, best: s.step === data.best_step,
               tip: s.label + " (step " + s.step + ")" + (s.gates_failed.length ? " — fails: " + s.gates_failed.join(", ") : "") };
    });
  }

  function main() {
    header();
    var app = document.getElementById("app");
    app.textContent = "";
    app.appendChild(el("h2", {}, "Generation quality over steps"));
    var grid = el("div", { "class": "grid", id: "metrics" });
    data.metrics.forEach(function (m) {
      var pts;
      if (m.kind === "rate") {
        pts = stepPoints(function (s) { return m.key in s.rates ? s.rates[m.key] : null; },
                         function (s) { return s.intervals[m.key] || null; }, m.gates);
      } else {
        pts = stepPoints(function (s) { return s[m.key]; }, function (s) { return s[m.key + "_interval"]; }, m.gates);
      }
      pts.forEach(function (p) { p.tip += ": " + fmt(p.y, m.kind); });
      grid.appendChild(chart(m.label, m.sub, m.kind, pts, { key: m.key, base: m.base, gate: m.gate }));
    });
    app.appendChild(grid);
    if (data.training) {
      app.appendChild(el("h2", {}, "Training curves (trainer_state.json), same step axis"));
      var tg = el("div", { "class": "grid", id: "training" });
      Object.keys(data.training).forEach(function (k) {
        var s = data.training[k];
        if (!s.values.length) return;
        var pts = s.steps.map(function (x, i) { return { x: x, y: s.values[i] }; });
        tg.appendChild(chart(k, null, "train", pts, { key: "train-" + k, marks: data.training_findings }));
      });
      app.appendChild(tg);
      var found = data.training_findings || [];
      if (found.length) {
        var list = el("ul", { id: "training-findings" });
        found.forEach(function (f) {
          var li = el("li", { "data-code": f.code });
          li.appendChild(el("b", {}, f.code + (f.step !== null ? " (step " + f.step + ")" : "") + ": "));
          li.appendChild(document.createTextNode(f.message + " Fix: " + f.fix));
          list.appendChild(li);
        });
        app.appendChild(el("h3", {}, "evalgen doctor on the training log"));
        app.appendChild(list);
      }
    }
    app.appendChild(el("h2", {}, "Steps"));
    var table = el("table", { id: "steps" });
    var head = el("tr");
    ["step", "run", "gates failed"].forEach(function (h) { head.appendChild(el("th", {}, h)); });
    table.appendChild(head);
    steps.forEach(function (s) {
      var tr = el("tr", { "data-step": String(s.step) });
      tr.appendChild(el("td", {}, String(s.step)));
      var cell = el("td");
      if (s.href) cell.appendChild(el("a", { href: s.href }, s.label)); else cell.textContent = s.label;
      tr.appendChild(cell);
      tr.appendChild(el("td", { "class": s.gates_failed.length ? "failed" : "" }, s.gates_failed.join(", ") || "none"));
      table.appendChild(tr);
    });
    app.appendChild(table);
    (data.warnings || []).forEach(function (w) { app.appendChild(el("p", { "class": "warn" }, w)); });
    document.body.setAttribute("data-ready", "1");
  }
  main();
})();
