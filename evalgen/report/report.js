'use strict';
// evalgen report. Model output is untrusted: every piece of data reaches the page through
// textContent / createElement / setAttribute on inert attributes, never through innerHTML, and no
// data value ever becomes a URL. The case list is virtualized: only the visible rows exist.
//
// Data: `data` (plain JSON: the overview), `index` (gzip + base64: one row per case) and chunks
// `c0`, `c1`, … (gzip + base64: one JSON line per prompt or output). The index is decoded at load;
// a chunk when a case in it is opened, searched or exported; a line is parsed when it is shown.
(function () {
  performance.mark('evalgen:start');
  const DATA = JSON.parse(document.getElementById('data').textContent);

  const DET = DATA.detectors;
  const HAS_BASE = !!DATA.base;
  const CMP = DATA.comparison;
  const ALL_BITS = (1 << DET.length) - 1;
  const ROW_H = 72;
  let CASES = [];
  let GROUPS = [];
  let indexReady = false;
  const LABELS = {
    repetition: 'repetition', truncation: 'truncation', missing_eos: 'missing EOS',
    identity_leak: 'identity leak', language_drift: 'language drift', task: 'old task wrong',
    task_accuracy: 'old-task accuracy',
  };
  const COLOUR = { repetition: 0, truncation: 1, missing_eos: 2, identity_leak: 3, language_drift: 4, task: 5 };
  const STOP_HELP = {
    eos: 'ended on an end token', stop_string: 'cut at a stop string (a made-up next turn)',
    length: 'hit max_new_tokens', loop: 'cut early: certainly looping', error: 'backend error',
    unknown: 'imported without a finish reason',
  };
  const label = (d) => LABELS[d] || d;
  function colourClass(d) {
    if (d in COLOUR) return 'k' + COLOUR[d];
    const extra = DET.filter((x) => !(x in COLOUR));
    return 'k' + (6 + (extra.indexOf(d) % 2));
  }

  // --- decoding ---------------------------------------------------------------------------------
  function base64Bytes(text) {
    if (typeof Uint8Array.fromBase64 === 'function') return Uint8Array.fromBase64(text);
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function gunzip(text) {
    const stream = new Blob([base64Bytes(text)]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Response(stream).text();
  }
  const domReady = new Promise((resolve) => {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', resolve, { once: true });
    else resolve();
  });
  const CHUNK_STARTS = DATA.chunks || [];
  const chunks = new Map();
  function chunkOf(e) {
    let lo = 0, hi = CHUNK_STARTS.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (CHUNK_STARTS[mid] <= e) lo = mid; else hi = mid - 1; }
    return lo;
  }
  // A chunk: its text and where each line starts (parsed line by line, only when shown).
  function loadChunk(i) {
    if (!chunks.has(i)) {
      chunks.set(i, (async () => {
        let el = document.getElementById('c' + i);
        if (!el) { await domReady; el = document.getElementById('c' + i); }
        const text = await gunzip(el.textContent);
        const starts = [0];
        for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) starts.push(at + 1);
        return { text, starts, first: CHUNK_STARTS[i] };
      })());
    }
    return chunks.get(i);
  }
  function lineOf(ch, k) {
    const end = k + 1 < ch.starts.length ? ch.starts[k + 1] - 1 : ch.text.length;
    return ch.text.slice(ch.starts[k], end);
  }
  async function entry(e) {
    const ch = await loadChunk(chunkOf(e));
    return JSON.parse(lineOf(ch, e - ch.first));
  }
  // Side entries are [output, {details}]; prompt entries a string, [all turns, prompt, messages],
  // or, cut by the size rule, [the kept text, null, null, whole length].
  function sideEntry(raw) { return raw ? Object.assign({ o: raw[0] }, raw[1]) : null; }
  function promptEntry(raw) {
    if (raw === null || raw === undefined) return null;
    if (typeof raw === 'string') return { t: raw, m: null };
    return raw[1] === null ? { t: raw[0], m: null, tr: raw[3] } : { t: raw[1], m: raw[2] };
  }
  // A healthy case's snippet is not in the index (it is rarely listed): read it when its row shows.
  const snippets = new Map();
  function fillSnippet(el, side) {
    if (!snippets.has(side.x)) {
      snippets.set(side.x, entry(side.x).then((raw) => {
        const text = raw[0].slice(0, 200).split(/\s+/).filter(Boolean).join(' ');
        return text.slice(0, 80);
      }));
    }
    snippets.get(side.x).then((text) => { el.textContent = text || '(empty output)'; el.classList.remove('pending'); });
  }
  async function caseTexts(i) {
    const c = CASES[i];
    const get = (e) => (e === undefined || e === null ? null : entry(e));
    const [dn, db, pn, pb] = await Promise.all([get(c.n && c.n.x), get(c.b && c.b.x), get(c.n && c.n.pe), get(c.b && c.b.pe)]);
    return { dn: sideEntry(dn), db: sideEntry(db), pn: promptEntry(pn), pb: promptEntry(pb) };
  }
  // A case: su (suite index), p (probe id), sm (sample), n / b (its new and base side, or null),
  // g ([[detector, group], …] when it has look-alikes); k, its "suite/probe/sample" key. The sides
  // are made from the index's columns when first read; filtering reads the columns directly.
  let IDX = null;
  const COL = { fn: null, fb: null, st: null, paired: null };
  const SNIPPETS = { n: new Map(), b: new Map() };
  function sideAt(which, i) {
    const col = IDX[which];
    if (!col || !col.has[i]) return null;
    return { f: col.f[i], s: col.s[i], st: col.st[i], t: col.t[i], ch: col.ch[i], c: col.c[i], x: col.x[i], pe: col.pe[i],
      sn: SNIPPETS[which].get(i) };
  }
  class Case {
    constructor(i, su, p, sm) { this.i = i; this.su = su; this.p = p; this.sm = sm; this.g = null; this._n = undefined; this._b = undefined; }
    get n() { if (this._n === undefined) this._n = sideAt('n', this.i); return this._n; }
    get b() { if (this._b === undefined) this._b = sideAt('b', this.i); return this._b; }
    get k() { return DATA.suites[this.su] + '/' + this.p + '/' + this.sm; }
  }
  // The index arrives as columns (see build.py `_columns`): one array per field.
  async function loadIndex() {
    const text = await gunzip(document.getElementById('index').textContent);
    performance.mark('evalgen:index-decoded');
    IDX = JSON.parse(text);
    performance.mark('evalgen:index-parsed');
    const n = IDX.su.length;
    CASES = new Array(n);
    for (let i = 0; i < n; i++) CASES[i] = new Case(i, IDX.su[i], IDX.p[i], IDX.sm[i]);
    const none = new Int32Array(n);
    const { n: cn, b: cb } = IDX;
    COL.fn = cn ? Int32Array.from(cn.f, (f, i) => (cn.has[i] ? f : 0)) : none;
    COL.fb = cb ? Int32Array.from(cb.f, (f, i) => (cb.has[i] ? f : 0)) : none;
    COL.st = Int32Array.from({ length: n }, (_, i) => (cn && cn.has[i] ? cn.st[i] : cb.st[i]));
    COL.paired = Uint8Array.from({ length: n }, (_, i) => (cn && cb && cn.has[i] && cb.has[i] ? 1 : 0));
    for (const which of ['n', 'b']) {
      if (IDX[which]) for (const [i, sn] of Object.entries(IDX[which].sn)) SNIPPETS[which].set(Number(i), sn);
    }
    for (const [i, d, g] of IDX.g) (CASES[i].g || (CASES[i].g = [])).push([d, g]);
    GROUPS = IDX.groups;
    indexReady = true;
  }
  // A "suite/probe id/sample" key (probe ids may hold "/"; suites and samples do not) → case number.
  function findCase(key) {
    const first = key.indexOf('/'), last = key.lastIndexOf('/');
    if (first < 0 || last <= first) return -1;
    const su = DATA.suites.indexOf(key.slice(0, first)), p = key.slice(first + 1, last), sm = Number(key.slice(last + 1));
    if (su < 0 || !Number.isInteger(sm) || key.slice(last + 1) !== String(sm)) return -1;
    return CASES.findIndex((c) => c.su === su && c.sm === sm && c.p === p);
  }

  // --- DOM helpers ------------------------------------------------------------------------------
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    setProps(el, props);
    for (const k of kids) if (k !== null && k !== undefined && k !== false) el.append(k);
    return el;
  }
  function s(tag, props, ...kids) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    setProps(el, props);
    for (const k of kids) if (k !== null && k !== undefined && k !== false) el.append(k);
    return el;
  }
  function setProps(el, props) {
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.setAttribute('class', v);
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, String(v));
    }
  }
  const pct = (x) => (x === null || x === undefined ? '–' : (100 * x).toFixed(1) + '%');
  function pp(d) {
    if (d === null || d === undefined) return '';
    const v = 100 * d;
    return (v > 0 ? '+' : v < 0 ? '−' : '±') + Math.abs(v).toFixed(1) + ' pp';
  }
  const fmtNum = (x) => (typeof x === 'number' ? (Number.isInteger(x) ? String(x) : x.toFixed(3)) : String(x));
  const plural = (n, one, many) => n.toLocaleString('en-US') + ' ' + (n === 1 ? one : many || one + 's');
  function caseHash(key) {
    return '#case=' + encodeURIComponent(key).replace(/%2F/g, '/');
  }
  function setHash(hash) {
    try { history.replaceState(null, '', hash); } catch (e) { /* file:// may refuse: not essential */ }
  }
  // A side's length: tokens, or characters for a record imported without token ids.
  function lengthText(side) {
    return side.t === null || side.t === undefined ? plural(side.ch, 'char') : plural(side.t, 'token');
  }
  const lengthOf = (side) => (side.t === null || side.t === undefined ? side.ch : side.t);

  // --- state ------------------------------------------------------------------------------------
  const S = {
    tab: 'overview', det: 'any', suite: -1, flip: 'bad', stop: -1, q: '', sort: 'score', sel: -1,
    group: true, open: new Set(), missing: null,
  };
  let MATCHED = [];   // the cases that pass the filters, in list order
  let VIEW = [];      // the list's rows: { i } a case, { g, m } a group of look-alikes, { i, g } a member
  let COUNTS = [];
  let HITS = null;    // search: Uint8Array per case, or null without a query
  let listRendered = false;
  const els = {};

  function stateBits(c, mask) {
    return [c.n ? c.n.f & mask : 0, c.b ? c.b.f & mask : 0];
  }
  function flipMatch(n, b, paired, flip) {
    switch (flip) {
      case 'all': return true;
      case 'bad': return (n | b) !== 0;
      case 'ok': return (n | b) === 0;
      case 'new': return paired && (n & ~b) !== 0;
      case 'fixed': return paired && (b & ~n) !== 0;
      case 'both': return (n & b) !== 0;
      default: return true;
    }
  }
  function caseStatus(c) {
    const [n, b] = stateBits(c, ALL_BITS);
    if (HAS_BASE && c.n && c.b) {
      if (n & ~b) return ['new', 'new failure'];
      if (b & ~n) return ['fixed', 'fixed'];
      if (n & b) return ['both', 'bad in both'];
      return ['ok', 'ok'];
    }
    if (HAS_BASE && !c.b) return [n ? 'bad' : 'ok', n ? 'bad (new only)' : 'new only'];
    if (HAS_BASE && !c.n) return [b ? 'bad' : 'ok', b ? 'bad (base only)' : 'base only'];
    return n ? ['bad', 'bad'] : ['ok', 'ok'];
  }
  const sideScore = (side, d) => (side && side.s ? side.s[d] : 0);
  function caseScore(c, mask) {
    let best = 0;
    for (let d = 0; d < DET.length; d++) {
      if ((mask >> d) & 1) best = Math.max(best, sideScore(c.n, d), sideScore(c.b, d));
    }
    return best;
  }
  // The finding a case is grouped by: a newly failing detector first, then the report's detector
  // order (not the score, so look-alikes whose scores differ a little still fold together).
  function leadDetector(c, mask) {
    let best = -1;
    for (let d = 0; d < DET.length; d++) {
      if (!((mask >> d) & 1)) continue;
      const inNew = c.n && (c.n.f >> d) & 1, inBase = c.b && (c.b.f >> d) & 1;
      if (!inNew && !inBase) continue;
      if (HAS_BASE && c.b && inNew && !inBase) return d;
      if (best < 0) best = d;
    }
    return best;
  }
  function groupOf(c, d) {
    if (!c.g || d < 0) return -1;
    for (const [gd, g] of c.g) if (gd === d) return g;
    return -1;
  }

  function applyFilters() {
    const di = S.det === 'any' ? -1 : DET.indexOf(S.det);
    const mask = di < 0 ? ALL_BITS : 1 << di;
    COUNTS = new Array(DET.length).fill(0);
    const out = [];
    const { fn, fb, st, paired } = COL;
    for (let i = 0; i < CASES.length; i++) {
      if (S.suite >= 0 && CASES[i].su !== S.suite) continue;
      if (S.stop >= 0 && st[i] !== S.stop) continue;
      if (HITS && !HITS[i]) continue;
      const n = fn[i], b = fb[i], p = paired[i] === 1;
      if (n | b) {
        for (let d = 0; d < DET.length; d++) {
          const bit = 1 << d;
          if ((n | b) & bit && flipMatch(n & bit, b & bit, p, S.flip)) COUNTS[d]++;
        }
      }
      if (flipMatch(n & mask, b & mask, p, S.flip)) out.push(i);
    }
    if (S.sort === 'score') {
      // Triage order: new failures, then bad in both (or bad without a pair), then fixed; by score within.
      const score = new Float64Array(CASES.length);
      const rank = new Uint8Array(CASES.length);
      for (const i of out) {
        const c = CASES[i];
        const [n, b] = stateBits(c, mask);
        score[i] = caseScore(c, mask);
        rank[i] = HAS_BASE && c.n && c.b && n & ~b ? 0 : n ? 1 : b ? 2 : 3;
      }
      out.sort((a, b) => rank[a] - rank[b] || score[b] - score[a] || a - b);
    } else if (S.sort === 'tokens') {
      const t = (c) => lengthOf(c.n || c.b);
      out.sort((a, b) => t(CASES[b]) - t(CASES[a]) || a - b);
    }
    MATCHED = out;
    buildRows(mask);
  }
  // Look-alikes (same lead detector, one evidence group) fold into one row where the first one sorts.
  function buildRows(mask) {
    const items = [];
    if (S.group) {
      const byGroup = new Map();
      for (const i of MATCHED) {
        const g = groupOf(CASES[i], leadDetector(CASES[i], mask));
        if (g < 0) { items.push({ i }); continue; }
        let item = byGroup.get(g);
        if (!item) { item = { g, m: [] }; byGroup.set(g, item); items.push(item); }
        item.m.push(i);
      }
    } else {
      for (const i of MATCHED) items.push({ i });
    }
    VIEW = [];
    for (const item of items) {
      if (item.m && item.m.length === 1) { VIEW.push({ i: item.m[0] }); continue; }
      VIEW.push(item);
      if (item.m && S.open.has(item.g)) for (const i of item.m) VIEW.push({ i, g: item.g });
    }
  }
  function groupRows() {
    return VIEW.filter((r) => r.m).length;
  }

  // --- top bar ----------------------------------------------------------------------------------
  function renderTop() {
    const top = document.getElementById('top');
    const runs = h('div', { class: 'runs' },
      HAS_BASE ? h('span', { class: 'run base', title: DATA.base.path }, DATA.base.name) : null,
      HAS_BASE ? h('span', { class: 'arrow' }, '→') : null,
      h('span', { class: 'run new', title: DATA.new.path }, DATA.new.name));
    const tabs = h('nav', { class: 'tabs' },
      h('button', { class: 'tab', 'data-tab': 'overview', onclick: () => go('overview') }, 'Overview'),
      h('button', { class: 'tab', 'data-tab': 'cases', onclick: () => go('cases') }, 'Cases'));
    let verdict = null;
    const gates = (CMP && CMP.gates) || [];
    if (gates.length) {
      const failed = gates.filter((g) => !g.passed);
      verdict = h('button', {
        class: 'verdict ' + (failed.length ? 'fail' : 'pass'), id: 'verdict',
        title: failed.map((g) => g.name + ': ' + g.reason).join('\n') || 'all gates passed',
        onclick: () => { go('overview'); const g = document.getElementById('gates'); if (g) g.scrollIntoView(); },
      }, failed.length ? 'FAIL' : 'PASS',
      h('span', { class: 'verdict-sub' }, failed.length ? `${failed.length} of ${gates.length} gates failed` : `${gates.length} gates passed`));
    }
    top.replaceChildren(h('div', { class: 'brand' }, 'evalgen'), runs, tabs, h('div', { class: 'grow' }), verdict || '');
  }
  function go(tab) {
    setHash(tab === 'cases' && S.sel >= 0 ? caseHash(CASES[S.sel].k) : '#' + tab);
    showTab(tab);
  }
  function showTab(tab) {
    S.tab = tab;
    for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === tab);
    els.overview.hidden = tab !== 'overview';
    els.cases.hidden = tab !== 'cases';
    if (tab === 'cases') renderList();
  }

  // --- overview ---------------------------------------------------------------------------------
  function section(title, id, ...kids) {
    return h('section', { class: 'card', id }, h('h2', {}, title), ...kids);
  }
  function renderOverview() {
    const root = els.overview;
    const parts = [];
    const n = DATA.new.n;
    parts.push(h('p', { class: 'lede' },
      HAS_BASE
        ? `${n} generations in ${DATA.new.name}, ${DATA.base.n} in ${DATA.base.name}` +
          (CMP ? `; ${CMP.n_common} paired by (suite, probe, sample).` : '.')
        : `${n} generations in ${DATA.new.name}.`,
      ' Report built ' + DATA.generated + '.'));
    if (DATA.warnings.length) {
      parts.push(h('section', { class: 'card warn' }, h('h2', {}, 'Warnings'),
        h('ul', {}, ...DATA.warnings.map((w) => h('li', {}, w)))));
    }
    if (DATA.truncation) parts.push(truncationNote());
    const gates = CMP && CMP.gates && CMP.gates.length ? gatesSection() : null;
    const doctor = DATA.doctor && DATA.doctor.length ? doctorSection() : null;
    if (gates && doctor) parts.push(h('div', { class: 'two' }, gates, doctor));
    else if (gates || doctor) parts.push(gates || doctor);
    parts.push(ratesSection());
    const task = DATA.rates.filter((r) => r.name === 'task_accuracy');
    if (task.length) parts.push(taskSection(task));
    parts.push(h('div', { class: 'two' }, stopSection(), lengthSection()));
    const detail = DATA.rates.filter((r) => r.src === 'comparison');
    if (detail.length) parts.push(metricsSection(detail));
    parts.push(metaSection());
    root.replaceChildren(...parts);
  }

  function gatesSection() {
    const rows = CMP.gates.map((g) => h('tr', { class: g.passed ? 'pass' : 'fail' },
      h('td', { class: 'mark-cell' }, g.passed ? '✓' : '✗'), h('td', {}, g.name), h('td', {}, g.reason || '')));
    return section('Gates', 'gates', h('table', { class: 'grid gates' },
      h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, 'gate'), h('th', {}, 'why'))), h('tbody', {}, ...rows)));
  }

  // The size rule, printed whenever it cut something.
  function truncationNote() {
    const t = DATA.truncation;
    return h('section', { class: 'card note-card', id: 'truncation' }, h('h2', {}, 'Some healthy outputs are cut'),
      h('p', {}, `This report keeps to about ${t.max_mb} MB: ${plural(t.n_cut, 'healthy output')} (no detector flag and no wrong answer in ` +
        `either run) ${t.n_cut === 1 ? 'is' : 'are'} cut to their first ${plural(t.limit, 'character')}, and so are their prompts. Bad and flipped cases, and a fixed ` +
        `sample of ${plural(t.n_sample, 'healthy case')} (the ${t.sample} with the smallest CRC-32 of their key), are whole. ` +
        'The full texts are in each run\'s generations.jsonl; `evalgen report --max-size-mb 0` builds a report without cuts.'));
  }

  // Findings of `evalgen doctor` on the checkpoint, training log or data behind this run.
  function doctorSection() {
    const items = DATA.doctor.map((f) => {
      const dets = [].concat(f.detectors || [], f.detector || []).filter((d) => DET.includes(d));
      const evidence = Object.entries(f.evidence && typeof f.evidence === 'object' ? f.evidence : {}).map(([k, v]) =>
        h('span', { class: 'kv' }, h('span', { class: 'k' }, k), h('span', { class: 'v' }, (typeof v === 'string' ? v : JSON.stringify(v)).slice(0, 300))));
      return h('li', { class: 'doc ' + String(f.severity || 'info') },
        h('div', { class: 'doc-head' }, h('span', { class: 'sev' }, String(f.severity || 'info')), h('code', {}, String(f.code || '')),
          f.path ? h('span', { class: 'doc-path' }, String(f.path)) : null,
          ...dets.map((d) => h('button', { class: 'link small', onclick: () => filterTo(d, 'all') }, label(d) + ' cases →'))),
        f.message ? h('div', { class: 'doc-msg' }, String(f.message)) : null,
        f.fix ? h('div', { class: 'doc-fix' }, h('b', {}, 'Fix: '), String(f.fix)) : null,
        evidence.length ? h('div', { class: 'kvs' }, ...evidence) : null);
    });
    return section('Doctor', 'doctor', h('ul', { class: 'doctor' }, ...items));
  }

  function rateRow(name, suite) {
    return DATA.rates.find((r) => r.name === name && r.suite === suite);
  }
  function deltaClass(r, higherIsBetter) {
    if (r.delta === null || r.delta === undefined) return '';
    const worse = higherIsBetter ? r.delta < 0 : r.delta > 0;
    const certain = r.ci_low !== undefined && r.ci_low !== null && (r.ci_low > 0 || r.ci_high < 0);
    if (Math.abs(r.delta) < 0.0005) return 'same';
    return (worse ? 'worse' : 'better') + (certain ? ' certain' : '');
  }
  function rateTitle(r) {
    const bits = [`${label(r.name)} on ${r.suite}`, `n = ${r.n}`];
    if (r.ci_low !== undefined && r.ci_low !== null) bits.push(`95% CI of Δ: [${pp(r.ci_low)}, ${pp(r.ci_high)}]`);
    if (r.p_value !== undefined && r.p_value !== null) bits.push(`McNemar p = ${r.p_value.toPrecision(2)}`);
    if (r.new_failures !== undefined) bits.push(`${r.new_failures} new failures, ${r.fixes} fixes`);
    bits.push(r.src === 'comparison' ? 'paired figures from comparison.json' : 'rates over each whole run');
    return bits.join('\n');
  }

  function ratesSection() {
    const dets = DET.filter((d) => d !== 'task');
    const chart = ratesChart(dets);
    const suites = ['all', ...DATA.suites];
    const head = h('tr', {}, h('th', {}, 'detector'), ...suites.map((s) => h('th', {}, s)));
    const body = dets.map((d) => h('tr', {}, h('th', { class: 'det' }, swatch(d), label(d)),
      ...suites.map((su) => {
        const r = rateRow(d, su);
        if (!r) return h('td', { class: 'na' }, '–');
        return h('td', {
          class: 'rate clickable', title: rateTitle(r),
          onclick: () => filterTo(d, su),
        }, rateCell(r, false));
      })));
    return section('Detector flag rates', 'rates', chart,
      h('p', { class: 'hint' }, HAS_BASE ? 'before → after; click a cell to read its cases. Hover for n, interval and p-value.' : 'Share of generations flagged; click a cell to read its cases.'),
      h('div', { class: 'scroll-x' }, h('table', { class: 'grid matrix' }, h('thead', {}, head), h('tbody', {}, ...body))));
  }
  function rateCell(r, higherIsBetter) {
    if (!HAS_BASE || r.base === null || r.base === undefined) return h('span', { class: 'v' + (r.new ? '' : ' zero') }, pct(r.new));
    // An unchanged rate stays quiet, so the eye lands on the cells that moved.
    if (deltaClass(r, higherIsBetter) === 'same') return h('span', { class: 'v same' + (r.new ? '' : ' zero') }, pct(r.base), ' → ', pct(r.new));
    return h('span', { class: 'v' }, h('span', { class: 'before' }, pct(r.base)), ' → ', h('b', {}, pct(r.new)),
      h('span', { class: 'delta ' + deltaClass(r, higherIsBetter) }, pp(r.delta)));
  }
  function swatch(d) {
    return h('span', { class: 'swatch ' + colourClass(d) });
  }

  function ratesChart(dets) {
    const rowH = HAS_BASE ? 30 : 22;
    const W = 920, L = 130, BAR = 380;
    const rows = dets.map((d) => rateRow(d, 'all')).filter(Boolean);
    const max = Math.max(0.05, ...rows.map((r) => Math.max(r.base || 0, r.new || 0)));
    const H = rows.length * rowH + 24;
    const g = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': 'detector flag rates' });
    for (let t = 0; t <= 4; t++) {
      const x = L + (BAR * t) / 4;
      g.append(s('line', { x1: x, x2: x, y1: 0, y2: H - 18, class: 'gridline' }),
        s('text', { x, y: H - 4, class: 'tick', 'text-anchor': 'middle' }, pct((max * t) / 4)));
    }
    rows.forEach((r, i) => {
      const y = i * rowH + 4;
      const cls = colourClass(r.name);
      g.append(s('text', { x: L - 8, y: y + rowH / 2, class: 'label', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, label(r.name)));
      if (HAS_BASE && r.base !== null && r.base !== undefined) {
        g.append(s('rect', { x: L, y, width: Math.max(1, (BAR * r.base) / max), height: 9, class: 'bar-base' },
          s('title', {}, `before: ${pct(r.base)}`)));
      }
      const yn = HAS_BASE ? y + 11 : y + 2;
      g.append(s('rect', { x: L, y: yn, width: Math.max(1, (BAR * (r.new || 0)) / max), height: 12, class: 'bar ' + cls },
        s('title', {}, rateTitle(r))));
      const txt = HAS_BASE && r.base !== null && r.base !== undefined ? `${pct(r.base)} → ${pct(r.new)}  ${pp(r.delta)}` : pct(r.new);
      const ci = r.ci_low !== undefined && r.ci_low !== null ? `  [${pp(r.ci_low)}, ${pp(r.ci_high)}]` : '';
      g.append(s('text', { x: L + BAR + 12, y: y + rowH / 2, class: 'value ' + deltaClass(r, false), 'dominant-baseline': 'middle' }, txt + ci));
    });
    const legend = HAS_BASE
      ? h('div', { class: 'legend' }, h('span', { class: 'swatch base' }), 'before (' + DATA.base.name + ')',
        h('span', { class: 'swatch k5' }), 'after (' + DATA.new.name + '), in the detector\'s colour; [95% interval of the change]')
      : null;
    return h('div', { class: 'chart-wrap' }, g, legend);
  }

  function taskSection(rows) {
    const suites = rows.map((r) => r.suite);
    const body = suites.map((su) => {
      const r = rateRow('task_accuracy', su);
      return h('tr', { title: rateTitle(r) }, h('th', {}, su),
        HAS_BASE ? h('td', { class: 'num' }, pct(r.base)) : null, h('td', { class: 'num' }, h('b', {}, pct(r.new))),
        HAS_BASE ? h('td', { class: 'num delta ' + deltaClass(r, true) }, pp(r.delta)) : null,
        HAS_BASE ? h('td', { class: 'num' }, r.ci_low !== undefined && r.ci_low !== null ? `[${pp(r.ci_low)}, ${pp(r.ci_high)}]` : '') : null,
        h('td', { class: 'num' }, String(r.n)),
        h('td', {}, h('button', { class: 'link', onclick: () => filterTo('task', su) }, 'wrong answers →')));
    });
    const head = h('tr', {}, h('th', {}, 'suite'), HAS_BASE ? h('th', {}, 'before') : null, h('th', {}, HAS_BASE ? 'after' : 'accuracy'),
      HAS_BASE ? h('th', {}, 'Δ') : null, HAS_BASE ? h('th', {}, '95% CI') : null, h('th', {}, 'n'), h('th', {}, ''));
    return section('Old-task accuracy', 'task', h('table', { class: 'grid' }, h('thead', {}, head), h('tbody', {}, ...body)));
  }

  function stopSection() {
    const runs = HAS_BASE ? [['before', DATA.stop_mix.base], ['after', DATA.stop_mix.new]] : [['run', DATA.stop_mix.new]];
    const W = 420, L = 56, BW = W - L - 8, BH = 22;
    const g = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${runs.length * 34}`, width: W, height: runs.length * 34, role: 'img', 'aria-label': 'stop reasons' });
    runs.forEach(([name, mix], i) => {
      const total = Object.values(mix).reduce((a, b) => a + b, 0) || 1;
      let x = L;
      const y = i * 34 + 4;
      g.append(s('text', { x: L - 8, y: y + BH / 2, class: 'label', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, name));
      for (const reason of DATA.stops) {
        const v = mix[reason] || 0;
        if (!v) continue;
        const w = (BW * v) / total;
        g.append(s('rect', { x, y, width: w, height: BH, class: 'stop-' + reason },
          s('title', {}, `${reason}: ${v} (${pct(v / total)}) — ${STOP_HELP[reason] || ''}`)));
        if (w > 34) g.append(s('text', { x: x + 4, y: y + BH / 2, class: 'in-bar', 'dominant-baseline': 'middle' }, pct(v / total)));
        x += w;
      }
    });
    const present = DATA.stops.filter((r) => runs.some(([, mix]) => mix[r]));
    const table = h('table', { class: 'grid compact' },
      h('thead', {}, h('tr', {}, h('th', {}, 'stop reason'), ...runs.map(([n]) => h('th', { class: 'num' }, n)))),
      h('tbody', {}, ...present.map((r) => h('tr', { title: STOP_HELP[r] || '' },
        h('th', {}, h('span', { class: 'swatch stop-' + r }), r,
          h('button', { class: 'link small', onclick: () => stopTo(r) }, 'cases →')),
        ...runs.map(([, mix]) => h('td', { class: 'num' }, String(mix[r] || 0)))))));
    return section('Stop reasons', 'stops', g, table);
  }

  function lengthSection() {
    const L = DATA.lengths;
    const W = 420, H = 180, PL = 40, PB = 22, PT = 8;
    const series = HAS_BASE ? ['base', 'new'] : ['new'];
    const maxC = Math.max(1, ...series.flatMap((k) => L.counts[k]));
    const n = L.counts.new.length;
    const bw = (W - PL - 8) / n;
    const y = (c) => PT + (H - PT - PB) * (1 - c / maxC);
    const g = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': 'output length histogram' });
    g.append(s('line', { x1: PL, x2: W - 8, y1: H - PB, y2: H - PB, class: 'axis' }));
    for (let t = 0; t <= 2; t++) {
      const c = Math.round((maxC * t) / 2);
      g.append(s('text', { x: PL - 6, y: y(c), class: 'tick', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, String(c)));
    }
    L.counts.new.forEach((c, i) => {
      g.append(s('rect', { x: PL + i * bw + 1, y: y(c), width: Math.max(1, bw - 2), height: H - PB - y(c), class: 'hist-new' },
        s('title', {}, `${L.edges[i]}–${L.edges[i + 1] - 1} ${L.unit || 'tokens'}: ${c}` + (HAS_BASE ? ` after, ${L.counts.base[i]} before` : ''))));
    });
    if (HAS_BASE) {
      let d = `M ${PL} ${H - PB}`;
      L.counts.base.forEach((c, i) => { d += ` L ${PL + i * bw} ${y(c)} L ${PL + (i + 1) * bw} ${y(c)}`; });
      d += ` L ${W - 8} ${H - PB}`;
      g.append(s('path', { d, class: 'hist-base' }));
    }
    for (let i = 0; i <= n; i += Math.max(1, Math.round(n / 6))) {
      g.append(s('text', { x: PL + i * bw, y: H - 6, class: 'tick', 'text-anchor': 'middle' }, String(L.edges[i])));
    }
    const sum = (k) => L.summary[k] || {};
    const stats = h('table', { class: 'grid compact' },
      h('thead', {}, h('tr', {}, h('th', {}, L.unit || 'tokens'), ...series.map((k) => h('th', { class: 'num' }, k === 'base' ? 'before' : HAS_BASE ? 'after' : 'run')))),
      h('tbody', {}, ...['mean', 'median', 'p90', 'max'].map((m) => h('tr', {}, h('th', {}, m),
        ...series.map((k) => h('td', { class: 'num' }, sum(k)[m] === undefined ? '–' : fmtNum(Math.round(sum(k)[m] * 10) / 10)))))));
    const legend = h('div', { class: 'legend' },
      h('span', { class: 'swatch hist-new' }), HAS_BASE ? 'after' : 'generations',
      HAS_BASE ? h('span', { class: 'swatch line' }) : null, HAS_BASE ? 'before' : null,
      L.limit ? ` · max_new_tokens ${L.limit}` : null,
      CMP && CMP.length && CMP.length.ks !== undefined ? ` · KS ${fmtNum(CMP.length.ks)} (paired)` : null);
    return section(L.unit === 'characters' ? 'Output length (characters: imported without token counts)' : 'Output length', 'lengths', g, legend, stats);
  }

  function metricsSection(rows) {
    const head = h('tr', {}, ...['metric', 'kind', 'suite', 'before', 'after', 'Δ', '95% CI', 'p', 'n', 'new fail', 'fixes']
      .map((t) => h('th', {}, t)));
    const fmt = (r, x) => (r.kind === 'teacher_forced' ? (x === null || x === undefined ? '–' : fmtNum(x)) : pct(x));
    const fmtD = (r, x) => (r.kind === 'teacher_forced' ? (x === null || x === undefined ? '' : (x > 0 ? '+' : '') + fmtNum(x)) : pp(x));
    const body = rows.map((r) => h('tr', {}, h('td', {}, label(r.name)), h('td', {}, r.kind), h('td', {}, r.suite),
      h('td', { class: 'num' }, fmt(r, r.base)), h('td', { class: 'num' }, fmt(r, r.new)),
      h('td', { class: 'num delta ' + deltaClass(r, r.kind !== 'detector') }, fmtD(r, r.delta)),
      h('td', { class: 'num' }, r.ci_low === null || r.ci_low === undefined ? '' : `[${fmtD(r, r.ci_low)}, ${fmtD(r, r.ci_high)}]`),
      h('td', { class: 'num' }, r.p_value === null || r.p_value === undefined ? '' : r.p_value.toPrecision(2)),
      h('td', { class: 'num' }, String(r.n)), h('td', { class: 'num' }, String(r.new_failures ?? '')), h('td', { class: 'num' }, String(r.fixes ?? ''))));
    return h('details', { class: 'card' }, h('summary', {}, h('h2', {}, `All compared metrics (${rows.length})`)),
      h('div', { class: 'scroll-x' }, h('table', { class: 'grid compact' }, h('thead', {}, head), h('tbody', {}, ...body))));
  }

  function flatten(obj, prefix, out) {
    if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
      for (const [k, v] of Object.entries(obj)) flatten(v, prefix ? prefix + '.' + k : k, out);
    } else {
      out.set(prefix, Array.isArray(obj) ? JSON.stringify(obj) : obj === null || obj === undefined ? '–' : String(obj));
    }
    return out;
  }
  function metaSection() {
    const newMeta = flatten(DATA.new.run, '', new Map());
    const baseMeta = HAS_BASE ? flatten(DATA.base.run, '', new Map()) : null;
    const keys = [...new Set([...(baseMeta ? baseMeta.keys() : []), ...newMeta.keys()])];
    const order = ['name', 'status', 'checkpoint', 'template', 'backend', 'settings', 'identity', 'suites', 'counts', 'timings', 'versions'];
    const rank = (k) => { const i = order.indexOf(k.split('.')[0]); return i < 0 ? order.length : i; };
    keys.sort((a, b) => rank(a) - rank(b));
    const rows = keys.map((k) => {
      const nv = newMeta.get(k) ?? '–';
      const bv = baseMeta ? baseMeta.get(k) ?? '–' : null;
      return h('tr', { class: baseMeta && bv !== nv ? 'differs' : '' }, h('th', {}, k),
        baseMeta ? h('td', { class: 'mono' }, bv) : null, h('td', { class: 'mono' }, nv));
    });
    const head = h('tr', {}, h('th', {}, 'field'), HAS_BASE ? h('th', {}, 'before · ' + DATA.base.path) : null,
      h('th', {}, (HAS_BASE ? 'after · ' : '') + DATA.new.path));
    return section('Runs', 'meta', HAS_BASE ? h('p', { class: 'hint' }, 'Rows that differ between the runs are tinted.') : null,
      h('div', { class: 'scroll-x' }, h('table', { class: 'grid compact meta' }, h('thead', {}, head), h('tbody', {}, ...rows))));
  }


  function filterTo(det, suite) {
    S.det = det;
    S.suite = suite === 'all' ? -1 : DATA.suites.indexOf(suite);
    S.stop = -1;
    S.flip = 'bad';
    syncControls();
    refilter();
    go('cases');
  }
  function stopTo(reason) {
    S.det = 'any'; S.suite = -1; S.flip = 'all'; S.stop = DATA.stops.indexOf(reason);
    syncControls();
    refilter();
    go('cases');
  }

  // --- cases: filters and list ------------------------------------------------------------------
  function option(value, text) {
    return h('option', { value }, text);
  }
  function buildCases() {
    const chips = h('div', { class: 'chips', id: 'det-filter', role: 'group', 'aria-label': 'detector' });
    els.chips = chips;
    const flips = HAS_BASE
      ? [['bad', 'bad in either run'], ['new', 'new failures'], ['fixed', 'fixed'], ['both', 'bad in both'], ['ok', 'clean in both'], ['all', 'all cases']]
      : [['bad', 'bad cases'], ['ok', 'clean cases'], ['all', 'all cases']];
    els.flip = h('select', { id: 'flip-filter', title: 'flip status', onchange: (e) => { S.flip = e.target.value; refilter(); } },
      ...flips.map(([v, t]) => option(v, t)));
    els.suite = h('select', { id: 'suite-filter', title: 'suite', onchange: (e) => { S.suite = Number(e.target.value); refilter(); } },
      option(-1, 'all suites'), ...DATA.suites.map((su, i) => option(i, su)));
    els.stop = h('select', { id: 'stop-filter', title: HAS_BASE ? 'stop reason (after)' : 'stop reason', onchange: (e) => { S.stop = Number(e.target.value); refilter(); } },
      option(-1, 'any stop reason'), ...DATA.stops.map((r, i) => option(i, 'stop: ' + r)));
    els.sort = h('select', { id: 'sort', title: 'sort', onchange: (e) => { S.sort = e.target.value; refilter(); } },
      option('score', HAS_BASE ? 'new failures first, worst score' : 'worst score first'), option('tokens', 'longest first'), option('key', 'by suite / probe'));
    els.group = h('input', { type: 'checkbox', id: 'group-toggle', checked: S.group ? 'checked' : null,
      onchange: (e) => { S.group = e.target.checked; refilter(); } });
    let timer = 0;
    els.search = h('input', {
      id: 'search', type: 'search', placeholder: 'search outputs, prompts, ids…', autocomplete: 'off', spellcheck: 'false',
      oninput: (e) => { clearTimeout(timer); timer = setTimeout(() => search(e.target.value), 180); },
    });
    els.count = h('span', { class: 'count', id: 'count' });
    els.exportBtn = h('button', { class: 'btn', id: 'export', title: 'download the cases in this list (all of them, groups included) as JSONL', onclick: () => exportCases() }, 'Export JSONL');
    const bar = h('div', { class: 'filters' }, chips,
      h('div', { class: 'controls' }, els.flip, els.suite, els.stop, els.sort, els.search,
        h('label', { class: 'toggle', title: 'fold failures of one detector with near-identical evidence into one row' }, els.group, 'group look-alikes'),
        els.count, els.exportBtn));
    els.spacer = h('div', { class: 'spacer' });
    els.list = h('div', { class: 'list', id: 'case-list', tabindex: '0', role: 'listbox', 'aria-label': 'cases' }, els.spacer);
    els.list.addEventListener('scroll', () => requestAnimationFrame(renderList), { passive: true });
    els.detail = h('div', { class: 'detail', id: 'case-detail' }, emptyDetail('Loading the cases…'));
    els.cases.replaceChildren(bar, h('div', { class: 'split' }, els.list, els.detail));
  }
  function emptyDetail(text, ...kids) {
    return h('div', { class: 'empty-detail' }, h('p', {}, text), ...kids);
  }
  function syncControls() {
    els.flip.value = S.flip;
    els.suite.value = String(S.suite);
    els.stop.value = String(S.stop);
    els.sort.value = S.sort;
    els.group.checked = S.group;
    if (els.search.value !== S.q) els.search.value = S.q;
  }
  function renderChips() {
    const chip = (d, text, count) => h('button', {
      class: 'chip ' + (d === 'any' ? '' : colourClass(d)) + (S.det === d ? ' on' : ''),
      'data-det': d, 'aria-pressed': S.det === d ? 'true' : 'false',
      onclick: () => { S.det = S.det === d && d !== 'any' ? 'any' : d; refilter(); },
    }, d === 'any' ? null : h('span', { class: 'dot' }), text, count === null ? null : h('span', { class: 'n' }, String(count)));
    els.chips.replaceChildren(chip('any', 'any detector', null), ...DET.map((d, i) => chip(d, label(d), COUNTS[i])));
  }
  function countText() {
    const groups = groupRows();
    return `${MATCHED.length} of ${CASES.length} cases` + (groups ? ` · ${plural(groups, 'look-alike group')}` : '');
  }
  function refilter(keepScroll) {
    applyFilters();
    renderChips();
    els.count.textContent = countText();
    els.spacer.style.height = VIEW.length * ROW_H + 'px';
    if (!keepScroll) els.list.scrollTop = 0;
    if (S.sel >= 0 && !MATCHED.includes(S.sel)) S.sel = -1;  // the detail always shows a case of the list
    if (S.tab === 'cases') renderList();
    if (S.sel < 0) showEmptyDetail();
  }
  function showEmptyDetail() {
    if (S.missing !== null) {
      els.detail.replaceChildren(h('div', { class: 'empty-detail missing', id: 'missing-case' },
        h('p', {}, h('b', {}, 'No case “' + S.missing + '” in this report.')),
        h('p', {}, `The link names a suite / probe id / sample that is not among its ${plural(CASES.length, 'case')}; ` +
          'it may come from another run. Pick a case on the left.')));
    } else if (!MATCHED.length) {
      els.detail.replaceChildren(h('div', { class: 'empty-detail', id: 'no-match' },
        h('p', {}, h('b', {}, 'No case matches these filters.')),
        h('button', { class: 'btn', onclick: () => { clearFilters(); } }, 'Show all cases')));
    } else {
      els.detail.replaceChildren(emptyDetail('Pick a case on the left (↑/↓ or j/k to move; Enter opens a group).'));
    }
  }
  function clearFilters() {
    Object.assign(S, { det: 'any', suite: -1, flip: 'all', stop: -1, q: '' });
    HITS = null;
    syncControls();
    refilter();
  }
  function renderList() {
    if (S.tab !== 'cases' || !els.spacer) return;
    if (!indexReady) {
      els.spacer.replaceChildren(h('div', { class: 'no-cases' }, 'Loading the cases…'));
      return;
    }
    const top = els.list.scrollTop;
    const height = els.list.clientHeight || 800;
    const first = Math.max(0, Math.floor(top / ROW_H) - 6);
    const last = Math.min(VIEW.length, Math.ceil((top + height) / ROW_H) + 6);
    const rows = [];
    for (let v = first; v < last; v++) rows.push(VIEW[v].m ? groupRow(VIEW[v], v) : row(VIEW[v], v));
    if (!VIEW.length) rows.push(h('div', { class: 'no-cases' }, CASES.length ? 'No case matches these filters.' : 'This report has no cases.'));
    els.spacer.replaceChildren(...rows);
    if (!listRendered) {
      listRendered = true;
      performance.mark('evalgen:list-rendered');
      document.body.dataset.listRendered = '1';
      // The next frame is the one that shows the rows.
      requestAnimationFrame(() => setTimeout(() => { performance.mark('evalgen:list-painted'); document.body.dataset.listPainted = '1'; }, 0));
    }
  }
  function badgesOf(c) {
    const badges = h('span', { class: 'badges' });
    const [n, b] = stateBits(c, ALL_BITS);
    DET.forEach((d, k) => {
      const bit = 1 << k;
      if (!((n | b) & bit)) return;
      const kind = n & bit ? (b & bit || !HAS_BASE ? 'bad' : 'new') : 'gone';
      badges.append(h('span', { class: `badge ${colourClass(d)} ${kind}`, title: kind === 'gone' ? label(d) + ': before only (fixed)' : label(d) }, label(d)));
    });
    return badges;
  }
  function row(item, v) {
    const i = item.i;
    const c = CASES[i];
    const main = c.n || c.b;
    const [status, statusText] = caseStatus(c);
    const snippet = h('div', { class: 'snippet' + (main.sn === undefined ? ' pending' : '') },
      main.sn === undefined ? '…' : main.sn || '(empty output)');
    if (main.sn === undefined) fillSnippet(snippet, main);
    const el = h('div', {
      class: 'row' + (i === S.sel ? ' sel' : '') + (item.g !== undefined ? ' member' : ''), role: 'option', 'data-key': c.k, 'data-index': i,
      'aria-selected': i === S.sel ? 'true' : 'false', title: c.k, onclick: () => openCase(i),
    },
    h('div', { class: 'line1' }, h('span', { class: 'status ' + status }, statusText),
      h('span', { class: 'key' }, h('span', { class: 'suite' }, DATA.suites[c.su] + ' / '), h('span', { class: 'pid' }, c.p), h('span', { class: 'sample' }, ' #' + c.sm))),
    h('div', { class: 'line2' }, badgesOf(c), h('span', { class: 'grow' }),
      h('span', { class: 'stop stop-' + DATA.stops[main.st] }, DATA.stops[main.st]),
      h('span', { class: 'tok', title: main.t === null ? 'imported without token ids: characters' : 'tokens' }, lengthText(main).replace(/ tokens?$/, ' tok'))),
    snippet);
    el.style.top = v * ROW_H + 'px';
    return el;
  }
  function groupRow(item, v) {
    const G = GROUPS[item.g];
    const open = S.open.has(item.g);
    const statuses = new Map();
    for (const i of item.m) { const text = caseStatus(CASES[i])[1]; statuses.set(text, (statuses.get(text) || 0) + 1); }
    const [first] = caseStatus(CASES[item.m[0]]);
    const ids = item.m.slice(0, 4).map((i) => CASES[i].p + ' #' + CASES[i].sm).join(', ') + (item.m.length > 4 ? ` … +${item.m.length - 4}` : '');
    const el = h('div', {
      class: 'row group' + (open ? ' open' : '') + (!open && item.m.includes(S.sel) ? ' sel' : ''), role: 'option', 'data-group': item.g,
      'aria-expanded': open ? 'true' : 'false', title: `${item.m.length} ${label(DET[G.d])} findings with near-identical evidence; click to ${open ? 'fold' : 'list'} them`,
      onclick: () => toggleGroup(item),
    },
    h('div', { class: 'line1' }, h('span', { class: 'caret' }, open ? '▾' : '▸'), h('span', { class: 'gcount' }, item.m.length + ' ×'),
      h('span', { class: `badge ${colourClass(DET[G.d])} bad` }, label(DET[G.d])),
      h('span', { class: 'status ' + first }, [...statuses].map(([t, n]) => (statuses.size > 1 ? n + ' ' : '') + t).join(' · ')),
      h('span', { class: 'look' }, 'look-alikes')),
    h('div', { class: 'line2 evidence' }, '“' + G.ev + '”'),
    h('div', { class: 'snippet ids' }, ids));
    el.style.top = v * ROW_H + 'px';
    return el;
  }
  function toggleGroup(item) {
    if (S.open.has(item.g)) S.open.delete(item.g); else S.open.add(item.g);
    buildRows(S.det === 'any' ? ALL_BITS : 1 << DET.indexOf(S.det));
    els.spacer.style.height = VIEW.length * ROW_H + 'px';
    if (!item.m.includes(S.sel)) openCase(item.m[0]);
    else renderList();
  }
  // Where the selection is in the list: its own row, or its folded group's row.
  function selectedRow() {
    return VIEW.findIndex((r) => (r.m ? !S.open.has(r.g) && r.m.includes(S.sel) : r.i === S.sel));
  }
  function moveSelection(step) {
    if (!VIEW.length) return;
    const at = selectedRow();
    const next = at < 0 ? 0 : Math.max(0, Math.min(VIEW.length - 1, at + step));
    const r = VIEW[next];
    openCase(r.m ? r.m[0] : r.i);
    scrollToRow(next);
  }
  function scrollToRow(v) {
    const y = v * ROW_H;
    if (y < els.list.scrollTop) els.list.scrollTop = y;
    else if (y + ROW_H > els.list.scrollTop + els.list.clientHeight) els.list.scrollTop = y + ROW_H - els.list.clientHeight;
  }

  // --- search: over the compressed chunks, without parsing them ---------------------------------
  const searchCache = new Map();
  function escapeRe(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  // Each line starts with its searchable text as a JSON string (the output; the prompt or all
  // turns), so a hit counts only inside that first string, never in keys or figures.
  function firstStringEnd(text, start) {
    let at = text.indexOf('"', start + 1);
    if (text[start] === '[') at = text.indexOf('"', text.indexOf('"', start) + 1);
    for (; at >= 0; at = text.indexOf('"', at + 1)) {
      let slashes = 0;
      for (let k = at - 1; text[k] === '\\'; k--) slashes++;
      if (slashes % 2 === 0) return at;
    }
    return text.length;
  }
  async function entryHits(q) {
    const needle = JSON.stringify(q).slice(1, -1);
    const re = new RegExp(escapeRe(needle), 'gi');
    const last = CHUNK_STARTS.length;
    const hits = new Set();
    for (let c = 0; c < last; c++) loadChunk(c);  // decode them all at once, search them in order
    for (let c = 0; c < last; c++) {
      const ch = await loadChunk(c);
      re.lastIndex = 0;
      let m;
      while ((m = re.exec(ch.text)) !== null) {
        let lo = 0, hi = ch.starts.length - 1;
        while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (ch.starts[mid] <= m.index) lo = mid; else hi = mid - 1; }
        const start = ch.starts[lo];
        if (m.index + m[0].length <= firstStringEnd(ch.text, start)) hits.add(ch.first + lo);
        re.lastIndex = lo + 1 < ch.starts.length ? ch.starts[lo + 1] : ch.text.length;
        if (m[0].length === 0) re.lastIndex++;
      }
    }
    return hits;
  }
  async function caseHits(q) {
    if (!searchCache.has(q)) {
      searchCache.set(q, (async () => {
        const entries = await entryHits(q);
        const low = q.toLowerCase();
        const out = new Uint8Array(CASES.length);
        const hit = (col, i) => !!col && col.has[i] === 1 && (entries.has(col.x[i]) || entries.has(col.pe[i]));
        for (let i = 0; i < CASES.length; i++) {
          out[i] = hit(IDX.n, i) || hit(IDX.b, i) || CASES[i].k.toLowerCase().includes(low) ? 1 : 0;
        }
        return out;
      })());
    }
    return searchCache.get(q);
  }
  async function search(value) {
    S.q = value;
    const q = value.trim();
    if (!q) { HITS = null; refilter(); return; }
    els.count.textContent = 'searching…';
    const hits = await caseHits(q);
    if (S.q !== value) return;  // typed on meanwhile
    HITS = hits;
    refilter();
  }

  // --- export -----------------------------------------------------------------------------------
  const FINISH = { eos: 'stop', stop_string: 'stop', length: 'length' };
  function exportSide(side, d) {
    if (!side || !d) return null;
    return {
      output: d.o, output_truncated_from: d.tr ?? null, stop_reason: DATA.stops[side.st], stop_detail: d.sd ?? null,
      n_output_tokens: side.t, n_output_chars: side.ch, task_correct: side.c,
      flags: DET.filter((x, k) => (side.f >> k) & 1),
      findings: d.fd.map((f) => ({ detector: f.d, flagged: f.fl, score: f.s, explanation: f.x, details: f.dt })),
      teacher_forced: d.tf ?? null,
    };
  }
  async function exportLine(i) {
    const c = CASES[i];
    const t = await caseTexts(i);
    const main = t.dn ? 'n' : 'b';
    const side = c[main], d = main === 'n' ? t.dn : t.db, p = main === 'n' ? t.pn : t.pb;
    const line = {
      id: c.p, suite: DATA.suites[c.su], sample: c.sm, key: c.k, status: caseStatus(c)[1],
      prompt: p ? p.t : null, output: d ? d.o : null, finish_reason: FINISH[DATA.stops[side.st]] ?? null,
    };
    if (p && p.m) line.messages = p.m;
    if (p && p.tr) line.prompt_truncated_from = p.tr;
    line.new = exportSide(c.n, t.dn);
    if (HAS_BASE) line.base = exportSide(c.b, t.db);
    if (HAS_BASE && t.pb && t.pn && t.pb.t !== t.pn.t) line.base_prompt = t.pb.t;
    // U+2028/2029 escaped too: tools that split lines on them (Python's splitlines) read one case a line.
    return JSON.stringify(line).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  }
  async function exportCases() {
    const todo = MATCHED.slice();
    els.exportBtn.disabled = true;
    try {
      const lines = [];
      for (let k = 0; k < todo.length; k++) {
        lines.push(await exportLine(todo[k]));
        if (k % 500 === 499) els.exportBtn.textContent = `Export ${k + 1}/${todo.length}…`;
      }
      const blob = new Blob([lines.join('\n') + (lines.length ? '\n' : '')], { type: 'application/x-ndjson' });
      const url = URL.createObjectURL(blob);
      const name = (DATA.new.name.replace(/[^\w.-]+/g, '_') || 'report') + '-cases.jsonl';
      const a = h('a', { href: url, download: name, hidden: 'hidden' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      els.exportBtn.textContent = `Exported ${plural(lines.length, 'case')}`;
      setTimeout(() => { els.exportBtn.textContent = 'Export JSONL'; }, 2500);
    } finally {
      els.exportBtn.disabled = false;
    }
  }

  // --- cases: one case --------------------------------------------------------------------------
  let detailToken = 0;
  function openCase(i, fromLink) {
    S.sel = i;
    S.missing = null;
    if (fromLink && !MATCHED.includes(i)) {
      // A deep-linked case must be visible: widen the filters rather than hide it.
      Object.assign(S, { det: 'any', suite: -1, flip: 'all', stop: -1, q: '' });
      HITS = null;
      syncControls();
      refilter();
      S.sel = i;
    }
    if (fromLink) {
      let v = VIEW.findIndex((r) => r.i === i);
      if (v < 0) {  // folded in a group: unfold it
        const r = VIEW.find((x) => x.m && x.m.includes(i));
        if (r) { S.open.add(r.g); buildRows(S.det === 'any' ? ALL_BITS : 1 << DET.indexOf(S.det)); els.spacer.style.height = VIEW.length * ROW_H + 'px'; }
        v = VIEW.findIndex((x) => x.i === i);
      }
      if (v >= 0) els.list.scrollTop = Math.max(0, v * ROW_H - els.list.clientHeight / 3);
    }
    setHash(caseHash(CASES[i].k));
    renderList();
    renderDetail(i);
  }

  async function renderDetail(i) {
    const token = ++detailToken;
    const T = await caseTexts(i);
    if (token !== detailToken) return;  // another case was opened meanwhile
    const c = CASES[i];
    const { dn, db, pn, pb } = T;
    const [status, statusText] = caseStatus(c);
    const any = dn || db;
    const head = h('div', { class: 'case-head' },
      h('h2', {}, h('span', { class: 'suite' }, DATA.suites[c.su] + ' / '), c.p, h('span', { class: 'sample' }, ' · sample ' + c.sm)),
      h('span', { class: 'status ' + status }, statusText),
      h('a', { class: 'permalink', href: caseHash(c.k), title: 'link to this case' }, '# link'),
      any.lang ? h('span', { class: 'meta-chip' }, 'lang ' + any.lang) : null,
      ...(any.tags || []).map((t) => h('span', { class: 'meta-chip' }, t)));
    const parts = [head];
    const member = VIEW.find((r) => r.m && r.m.includes(i));
    if (member) {
      const G = GROUPS[member.g];
      parts.push(h('div', { class: 'note group-note' }, `One of ${member.m.length} look-alike ${label(DET[G.d])} findings (near-identical evidence). `,
        h('button', { class: 'link', onclick: () => toggleGroup(member) }, S.open.has(member.g) ? 'fold them' : 'list them')));
    }
    if (HAS_BASE && pn && pb && pn.t !== pb.t) {
      parts.push(h('div', { class: 'note' }, 'The prompts differ between the runs (template or settings changed).'),
        h('div', { class: 'sides' }, promptBlock(pb, 'prompt · before'), promptBlock(pn, 'prompt · after')));
    } else {
      parts.push(promptBlock(pn || pb, 'prompt as rendered with the template' + templateName()));
    }
    if (HAS_BASE) {
      parts.push(h('div', { class: 'sides' },
        sidePanel(c.b, db, 'before · ' + DATA.base.name, 'base'), sidePanel(c.n, dn, 'after · ' + DATA.new.name, 'new')));
    } else {
      parts.push(h('div', { class: 'sides one' }, sidePanel(c.n, dn, 'output', 'new')));
    }
    const tf = (dn && dn.tf) || (db && db.tf);
    if (tf && typeof tf === 'object') parts.push(kvTable('teacher-forced figures', 'teacher-forced', tf));
    if (any.ref !== null && any.ref !== undefined) {
      parts.push(h('div', { class: 'block' }, h('h3', {}, 'reference' + (any.sc ? ' · scorer ' + any.sc : '')),
        h('pre', { class: 'text ref' }, Array.isArray(any.ref) ? any.ref.join('\n') : String(any.ref))));
    }
    els.detail.replaceChildren(...parts);
    els.detail.scrollTop = 0;
  }
  function kvTable(title, id, obj) {
    const rows = Object.entries(obj).map(([k, v]) => h('tr', {}, h('th', {}, k),
      h('td', { class: 'num' }, typeof v === 'number' ? fmtNum(v) : typeof v === 'string' ? v : JSON.stringify(v))));
    return h('div', { class: 'block', id }, h('h3', {}, title), h('table', { class: 'grid compact kv-table' }, h('tbody', {}, ...rows)));
  }
  function templateName() {
    const t = DATA.new.run.template;
    if (!t || !t.name) return '';
    return t.name === 'checkpoint' ? " (the checkpoint's own)" : ' ' + t.name;
  }
  // A prompt: the rendered text, or, when it does not show every turn (an import keeps only the last
  // user turn in it), the conversation turn by turn.
  function promptBlock(p, title) {
    if (!p) return h('div', { class: 'block prompt' }, h('h3', {}, title), h('pre', { class: 'text prompt-text' }, ''));
    if (!p.m) {
      return h('div', { class: 'block prompt' }, h('h3', {}, title), h('pre', { class: 'text prompt-text' }, p.t),
        p.tr ? h('p', { class: 'note cut-note' }, `Cut to its first ${plural(p.t.length, 'character')} of ${p.tr.toLocaleString('en-US')} ` +
          'in this report (the prompt of a healthy case; see the size rule in the overview).') : null);
    }
    const turns = p.m.map((m) => h('div', { class: 'turn ' + String(m.role) },
      h('span', { class: 'role' }, String(m.role)), h('pre', { class: 'text turn-text' }, String(m.content))));
    return h('div', { class: 'block prompt conversation' }, h('h3', {}, `conversation · ${plural(p.m.length, 'turn')}`), ...turns);
  }

  function sidePanel(side, d, title, which) {
    if (!side || !d) {
      return h('div', { class: 'side missing ' + which }, h('h3', {}, title), h('p', { class: 'hint' }, 'No record with this key in this run.'));
    }
    const stop = DATA.stops[side.st];
    const meta = h('div', { class: 'side-meta' },
      h('span', { class: 'stop stop-' + stop, title: STOP_HELP[stop] || '' }, 'stop: ' + stop + (d.sd ? ' (' + d.sd + ')' : '')),
      h('span', { class: 'meta-chip length', title: side.t === null ? 'imported without token ids' : '' }, lengthText(side)),
      d.lat !== null && d.lat !== undefined ? h('span', { class: 'meta-chip' }, d.lat.toFixed(2) + ' s') : null,
      side.c === true ? h('span', { class: 'meta-chip ok' }, 'task ✓') : side.c === false ? h('span', { class: 'meta-chip bad' }, 'task ✗') : null);
    const flagged = d.fd.filter((f) => f.fl);
    const quiet = d.fd.filter((f) => !f.fl);
    const wrong = side.c === false
      ? h('li', { class: 'finding flagged ' + colourClass('task') }, h('span', { class: 'dot' }), h('b', {}, label('task')),
        h('span', { class: 'expl' }, 'the answer does not match the reference' + (d.sc ? ' (scorer ' + d.sc + ')' : '')))
      : null;
    const findings = h('ul', { class: 'findings' }, wrong,
      ...flagged.map((f) => findingItem(f)),
      ...(flagged.length || side.c === false ? [] : [h('li', { class: 'clean' }, 'no detector flagged this output')]));
    if (quiet.length) {
      findings.append(h('li', { class: 'quiet' }, h('details', {}, h('summary', {}, `${quiet.length} below threshold`),
        h('ul', {}, ...quiet.map((f) => findingItem(f))))));
    }
    const out = highlighted(d.o, flagged, which);
    const kids = [h('h3', {}, title), meta, findings, spanLegend(out), out];
    if (d.tr) {
      kids.push(h('p', { class: 'note cut-note' }, `Cut to its first ${plural(d.o.length, 'character')} of ${d.tr.toLocaleString('en-US')} in this report ` +
        '(a healthy output; see the size rule in the overview). The whole text is in generations.jsonl.'));
    }
    const raw = d.rt !== null && d.rt !== undefined ? d.o + d.rt : d.r;
    if (raw !== null && raw !== undefined) {
      kids.push(h('details', { class: 'raw' }, h('summary', {}, 'raw output (special tokens kept)'), h('pre', { class: 'text raw-text' }, raw)));
    }
    return h('div', { class: 'side ' + which, 'data-side': which }, ...kids);
  }
  function findingItem(f) {
    const details = Object.entries(f.dt || {}).map(([k, v]) => h('span', { class: 'kv' }, h('span', { class: 'k' }, k),
      h('span', { class: 'v' }, JSON.stringify(v).slice(0, 240))));
    return h('li', { class: 'finding ' + colourClass(f.d) + (f.fl ? ' flagged' : '') },
      h('span', { class: 'dot' }), h('b', {}, label(f.d)), h('span', { class: 'score' }, 'score ' + f.s.toFixed(2)),
      f.x ? h('span', { class: 'expl' }, f.x) : null, details.length ? h('div', { class: 'kvs' }, ...details) : null);
  }

  // Evidence spans arrive in UTF-16 offsets (converted at build time), so slicing is exact even
  // after emoji. Overlaps are cut into segments; a segment lists every span covering it.
  function highlighted(text, findings, which) {
    const spans = [];
    for (const f of findings) for (const sp of f.sp) spans.push({ s: sp[0], e: sp[1], label: sp[2], det: f.d, i: spans.length });
    const pre = h('pre', { class: 'text output' + (text ? '' : ' empty'), 'data-side': which });
    const points = new Set([0, text.length]);
    const cuts = new Map();
    for (const sp of spans) {
      points.add(sp.s); points.add(sp.e);
      if (sp.e === sp.s) { if (!cuts.has(sp.s)) cuts.set(sp.s, []); cuts.get(sp.s).push(sp); }
    }
    const pts = [...points].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
    for (let k = 0; k < pts.length; k++) {
      const a = pts[k];
      for (const sp of cuts.get(a) || []) {
        pre.append(h('span', {
          class: 'cut ' + colourClass(sp.det), title: label(sp.det) + ': ' + sp.label, 'data-label': sp.label || label(sp.det),
          'data-spans': String(sp.i), 'data-det': sp.det,
        }));
      }
      if (k + 1 >= pts.length) break;
      const b = pts[k + 1];
      const seg = text.slice(a, b);
      const active = spans.filter((sp) => sp.e > sp.s && sp.s <= a && sp.e >= b);
      if (!active.length) { pre.append(seg); continue; }
      pre.append(h('mark', {
        // 'start' draws an edge where a span begins, so adjacent spans (unit, then loop) stay apart.
        class: 'hl ' + colourClass(active[0].det) + (active.length > 1 ? ' multi' : '') + (active.some((sp) => sp.s === a) ? ' start' : ''),
        title: active.map((sp) => label(sp.det) + (sp.label ? ': ' + sp.label : '')).join('\n'),
        'data-spans': active.map((sp) => sp.i).join(' '), 'data-det': active.map((sp) => sp.det).join(' '),
      }, seg));
    }
    pre._spans = spans;
    return pre;
  }
  function spanLegend(pre) {
    const groups = new Map();
    for (const sp of pre._spans) {
      const key = sp.det + '\u0000' + sp.label;
      if (!groups.has(key)) groups.set(key, { sp, n: 0 });
      groups.get(key).n++;
    }
    if (!groups.size) return null;
    return h('div', { class: 'legend spans' }, 'evidence:', ...[...groups.values()].map(({ sp, n }) => h('button', {
      class: 'chip small ' + colourClass(sp.det), title: 'scroll to it',
      onclick: () => {
        const el = [...pre.querySelectorAll('[data-spans]')].find((x) => x.dataset.spans.split(' ').includes(String(sp.i)));
        if (el) { el.scrollIntoView({ block: 'center' }); el.classList.add('pulse'); setTimeout(() => el.classList.remove('pulse'), 900); }
      },
    }, h('span', { class: 'dot' }), label(sp.det) + (sp.label ? ': ' + sp.label : '') + (n > 1 ? ` ×${n}` : ''))));
  }

  // --- routing ----------------------------------------------------------------------------------
  function route() {
    const hash = location.hash.slice(1);
    if (hash.startsWith('case=')) {
      let key = null;
      try { key = decodeURIComponent(hash.slice(5)); } catch (e) { key = hash.slice(5); }
      const i = key === null ? -1 : findCase(key);
      showTab('cases');
      if (i >= 0) {
        openCase(i, true);
      } else {
        // Say so rather than show nothing (or another case).
        S.sel = -1;
        S.missing = key;
        renderList();
        showEmptyDetail();
      }
      return;
    }
    showTab(hash === 'cases' ? 'cases' : 'overview');
  }
  function onKey(e) {
    if (S.tab !== 'cases' || e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    if (e.key === 'ArrowDown' || e.key === 'j') { moveSelection(1); e.preventDefault(); }
    else if (e.key === 'ArrowUp' || e.key === 'k') { moveSelection(-1); e.preventDefault(); }
    else if (e.key === 'Enter') {
      // Enter opens the selected group, or folds the group the selected case belongs to.
      const r = VIEW[selectedRow()];
      const item = r && (r.m ? r : r.g !== undefined ? VIEW.find((x) => x.m && x.g === r.g) : null);
      if (item) { toggleGroup(item); e.preventDefault(); }
    }
    else if (e.key === '/') { els.search.focus(); e.preventDefault(); }
  }

  function init() {
    document.title = DATA.title;
    const app = document.getElementById('app');
    els.overview = h('div', { id: 'overview', class: 'page' });
    els.cases = h('div', { id: 'cases', class: 'page cases', hidden: true });
    app.replaceChildren(els.overview, els.cases);
    renderTop();
    buildCases();
    renderOverview();
    const hash = location.hash.slice(1);
    showTab(hash === 'cases' || hash.startsWith('case=') ? 'cases' : 'overview');
    if (typeof DecompressionStream !== 'function') {
      els.detail.replaceChildren(emptyDetail('This browser cannot decompress the report’s data (it lacks DecompressionStream); ' +
        'open it in a current Chromium, Firefox or Safari.'));
      document.body.dataset.ready = '1';
      return;
    }
    loadIndex().then(() => {
      applyFilters();
      renderChips();
      els.count.textContent = countText();
      els.spacer.style.height = VIEW.length * ROW_H + 'px';
      showEmptyDetail();
      route();
      window.addEventListener('hashchange', route);
      window.addEventListener('resize', () => requestAnimationFrame(renderList));
      document.addEventListener('keydown', onKey);
      document.body.dataset.ready = '1';
    }, (err) => {
      els.detail.replaceChildren(emptyDetail('The report’s case data could not be read: ' + String(err)));
      document.body.dataset.ready = 'error';
    });
  }
  init();
})();
