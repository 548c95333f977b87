/**
 * The operators' part of the page script (spliced into the same closure as `page-script.ts`): the lag
 * heat scale and stuck flags on the grid, the hand-drawn SVG throughput chart with ownership moves on
 * its time axis, and the partition panel's jobs. Fed by `ops` events; the panel's jobs come from
 * `GET api/leases/<name>/partitions/<p>` while a partition is pinned. DOM only through textContent and
 * setAttribute, as in the rest of the page.
 */
export const OPS_SCRIPT = String.raw`
  var OPS = { on: false, points: [], moves: [], leases: {}, now: 0, bucketMs: 1000, windowMs: 900000, stuckAfterMs: 0, mode: 'owner', jobs: null, jobsFor: null, jobsTimer: null };
  var SVGNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  // Heat: the age of the next job on a log scale, 0 s (pale green) to 5 min and more (dark red).
  var HEAT = [[0, [220, 252, 231]], [0.35, [253, 224, 71]], [0.7, [249, 115, 22]], [1, [153, 27, 27]]];
  function heat(lagMs) {
    if (lagMs === null || lagMs === undefined) return '';
    var f = Math.min(1, Math.log10(1 + lagMs / 1000) / Math.log10(301));
    for (var i = 1; i < HEAT.length; i++) {
      if (f <= HEAT[i][0]) {
        var a = HEAT[i - 1], b = HEAT[i], t = (f - a[0]) / (b[0] - a[0]);
        var c = a[1].map(function (v, j) { return Math.round(v + (b[1][j] - v) * t); });
        return 'rgb(' + c.join(', ') + ')';
      }
    }
    return 'rgb(153, 27, 27)';
  }
  // Column-wise per lease (index = partition): { waiting, active, lagMs, headForMs, stuck: [partitions] }.
  function lagOf(lease, p) {
    var l = OPS.leases[lease];
    if (!l || l.waiting[p] === undefined) return null;
    return { partition: p, waiting: l.waiting[p], active: l.active[p], lagMs: l.lagMs[p], headForMs: l.headForMs[p], stuck: l.stuckSet[p] === true };
  }

  function onOps(v) {
    OPS.on = true;
    if (v.full) { OPS.points = v.points.slice(); OPS.moves = v.moves.slice(); }
    else {
      v.points.forEach(function (pt) {
        var last = OPS.points[OPS.points.length - 1];
        if (last && last.t === pt.t) OPS.points[OPS.points.length - 1] = pt;
        else if (!last || last.t < pt.t) OPS.points.push(pt);
        else for (var i = OPS.points.length - 1; i >= 0; i--) if (OPS.points[i].t === pt.t) { OPS.points[i] = pt; break; }
      });
      OPS.moves = OPS.moves.concat(v.moves);
    }
    OPS.now = v.now; OPS.bucketMs = v.bucketMs; OPS.windowMs = v.windowMs; OPS.stuckAfterMs = v.stuckAfterMs;
    var cut = v.now - v.windowMs;
    while (OPS.points.length && OPS.points[0].t < cut) OPS.points.shift();
    while (OPS.moves.length && OPS.moves[0].at < cut) OPS.moves.shift();
    OPS.leases = v.leases;
    Object.keys(v.leases).forEach(function (name) {
      var l = v.leases[name]; l.stuckSet = {};
      l.stuck.forEach(function (p) { l.stuckSet[p] = true; });
    });
    var qp = $('queue-problem');
    if (v.error) { qp.hidden = false; qp.textContent = 'Lag and throughput unavailable: Redis read failed: ' + v.error; }
    else { qp.hidden = true; qp.textContent = ''; }
    opsGrid(); renderChart(); opsSummary();
    if (!S.pinned) renderDetail();
  }

  function opsGrid() {
    if (!OPS.on) return;
    Object.keys(S.cards).forEach(function (name) {
      var card = S.cards[name];
      if (!card.toggle) {
        var t = el('div', 'toggle');
        ['owner', 'lag'].forEach(function (m) {
          var b = el('button', null, m === 'owner' ? 'Owner' : 'Lag');
          b.type = 'button'; b.setAttribute('data-mode', m);
          b.addEventListener('click', function () { OPS.mode = m; opsGrid(); });
          t.appendChild(b);
        });
        card.legend.parentNode.insertBefore(t, card.legend);
        card.toggle = t;
        var scale = el('div', 'heat-scale');
        add(scale, el('span', null, '0 s'), el('i'), el('span', null, '5 min+'));
        card.toggle.appendChild(scale);
      }
      for (var b = card.toggle.firstChild; b; b = b.nextSibling)
        if (b.tagName === 'BUTTON') b.classList.toggle('on', b.getAttribute('data-mode') === OPS.mode);
      card.card.setAttribute('data-grid-mode', OPS.mode);
      card.cells.forEach(function (c, p) {
        var l = lagOf(name, p);
        var hc = l ? heat(l.lagMs) : '';
        var bar = c.querySelector('.heat');
        if (!bar) { bar = el('span', 'heat'); c.appendChild(bar); }
        bar.style.backgroundColor = hc;
        c.setAttribute('data-lag-ms', l && l.lagMs !== null ? String(Math.round(l.lagMs)) : '');
        c.setAttribute('data-waiting', l ? String(l.waiting) : '');
        if (l && l.stuck) c.setAttribute('data-stuck', 'true'); else c.removeAttribute('data-stuck');
        if (OPS.mode === 'lag') c.style.backgroundColor = hc || '#f1f5f9';
        else {
          var snapPart = S.snap && findPartition({ lease: name, partition: p });
          var part = snapPart && snapPart.part;
          c.style.backgroundColor = !part || part.status === 'unowned' ? '' : colour(part.owner);
        }
      });
    });
  }

  function opsSummary() {
    var stuck = [], maxLag = null;
    Object.keys(OPS.leases).forEach(function (name) {
      var l = OPS.leases[name];
      l.stuck.forEach(function (p) { stuck.push(name + ' ' + p); });
      l.lagMs.forEach(function (ms) { if (ms !== null && ms !== undefined && (maxLag === null || ms > maxLag)) maxLag = ms; });
    });
    var s = $('stuck');
    if (stuck.length) {
      s.hidden = false;
      s.textContent = stuck.length + ' stuck partition' + (stuck.length === 1 ? '' : 's') + ' (owner live, next job unmoved for over ' +
        fmtDuration(OPS.stuckAfterMs) + '): ' + stuck.slice(0, 12).join(', ') + (stuck.length > 12 ? ', \u2026' : '');
    } else { s.hidden = true; s.textContent = ''; }
    var st = $('stat-stuck'), ml = $('stat-lag');
    if (st) { st.textContent = String(stuck.length); st.className = 'v' + (stuck.length ? ' bad' : ''); }
    if (ml) ml.textContent = maxLag === null ? '\u2014' : fmtDuration(maxLag);
  }
  function opsStats(summary) {
    if (!OPS.on) return;
    var a = stat('Stuck', '0'); a.lastChild.id = 'stat-stuck';
    var b = stat('Max lag', '\u2014'); b.lastChild.id = 'stat-lag';
    add(summary, a, b);
    opsSummary();
  }

  // ---- chart ------------------------------------------------------------------------------
  function niceMax(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), n = v / p;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p;
  }
  function renderChart() {
    var box = $('chart'), card = $('throughput');
    if (!OPS.on) return;
    // Nothing to chart while no lease has partition queues.
    card.hidden = Object.keys(OPS.leases).length === 0;
    if (card.hidden) return;
    // The newest bucket is still filling: drawn from the one before.
    var pts = OPS.points.slice(0, -1);
    clear(box);
    var W = Math.max(320, box.clientWidth || 720), H = 170, L = 44, R = 10, T = 10, B = 34;
    var end = pts.length ? pts[pts.length - 1].t + OPS.bucketMs : OPS.now;
    var start = Math.max(end - OPS.windowMs, pts.length ? pts[0].t : end - 20000);
    if (end - start < 20000) start = end - 20000;
    var span = end - start;
    // Wider windows are drawn in groups of buckets so a line never has more points than pixels / 3.
    var group = Math.max(1, Math.ceil(span / OPS.bucketMs / ((W - L - R) / 3)));
    var clients = {}, series = { total: [], failed: [] };
    for (var i = 0; i < pts.length; i += group) {
      var slice = pts.slice(i, i + group), secs = slice.length * OPS.bucketMs / 1000, tot = 0, fail = 0, per = {};
      slice.forEach(function (pt) {
        Object.keys(pt.completed).forEach(function (c) { per[c] = (per[c] || 0) + pt.completed[c]; tot += pt.completed[c]; clients[c] = true; });
        Object.keys(pt.failed).forEach(function (c) { fail += pt.failed[c]; });
      });
      var t = slice[0].t + (slice.length * OPS.bucketMs) / 2;
      series.total.push([t, tot / secs]); series.failed.push([t, fail / secs]);
      slice.per = per; slice.secs = secs; slice.t = t;
      series['#' + i] = slice;
    }
    var ids = Object.keys(clients).sort();
    ids.forEach(function (c) {
      series[c] = [];
      for (var k = 0; k < pts.length; k += group) { var sl = series['#' + k]; series[c].push([sl.t, (sl.per[c] || 0) / sl.secs]); }
    });
    var max = 0;
    series.total.forEach(function (p) { if (p[1] > max) max = p[1]; });
    max = niceMax(max * 1.1);
    function x(t) { return L + ((t - start) / span) * (W - L - R); }
    function y(v) { return T + (1 - v / max) * (H - T - B); }
    var s = svg('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'Jobs per second, per client and in total' });
    for (var g = 0; g <= 2; g++) {
      var v = (max * g) / 2, gy = y(v);
      s.appendChild(svg('line', { x1: L, x2: W - R, y1: gy, y2: gy, class: 'gridline' }));
      var lab = svg('text', { x: L - 6, y: gy + 4, class: 'axis', 'text-anchor': 'end' }); lab.textContent = v >= 10 ? Math.round(v) : v.toFixed(1);
      s.appendChild(lab);
    }
    var ticks = span > 5 * 60000 ? 5 * 60000 : span > 2 * 60000 ? 60000 : span > 40000 ? 15000 : 5000;
    for (var tt = Math.ceil(start / ticks) * ticks; tt <= end; tt += ticks) {
      var tx = x(tt);
      s.appendChild(svg('line', { x1: tx, x2: tx, y1: H - B, y2: H - B + 4, class: 'tick' }));
      var tl = svg('text', { x: tx, y: H - B + 16, class: 'axis', 'text-anchor': 'middle' }); tl.textContent = clock(new Date(tt).toISOString()).slice(0, 8);
      s.appendChild(tl);
    }
    s.appendChild(svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'baseline' }));
    // Ownership moves on the time axis, one mark per second with moves (red when a crash).
    var bySec = {};
    OPS.moves.forEach(function (m) {
      if (m.at < start || m.at > end) return;
      var k = Math.floor(m.at / 1000);
      var e = bySec[k] = bySec[k] || { at: m.at, n: 0, reasons: {} };
      e.n++; e.reasons[m.reason] = (e.reasons[m.reason] || 0) + 1;
    });
    Object.keys(bySec).forEach(function (k) {
      var e = bySec[k], mx = x(e.at), crash = !!(e.reasons.crash || e.reasons['self-fence']);
      var mark = svg('path', { d: 'M' + (mx - 4) + ' ' + (H - B + 24) + ' L' + mx + ' ' + (H - B + 18) + ' L' + (mx + 4) + ' ' + (H - B + 24) + ' Z',
        class: 'move' + (crash ? ' crash' : ''), 'data-move-at': e.at });
      var title = svg('title', {});
      title.textContent = clock(new Date(e.at).toISOString()) + ': ' + e.n + ' move' + (e.n === 1 ? '' : 's') + ' (' +
        Object.keys(e.reasons).map(function (r) { return r + ' ' + e.reasons[r]; }).join(', ') + ')';
      mark.appendChild(title);
      s.appendChild(mark);
      s.appendChild(svg('line', { x1: mx, x2: mx, y1: T, y2: H - B, class: 'move-line' + (crash ? ' crash' : '') }));
    });
    function line(points, cls, stroke, name) {
      if (!points.length) return;
      var d = points.map(function (p, i) { return (i ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1); }).join(' ');
      var path = svg('path', { d: d, class: 'series ' + cls, 'data-series': name, 'data-values': points.map(function (p) { return p[1].toFixed(2); }).join(','),
        'data-times': points.map(function (p) { return Math.round(p[0]); }).join(',') });
      if (stroke) path.setAttribute('stroke', stroke);
      s.appendChild(path);
    }
    ids.forEach(function (c) { line(series[c], 'client', colour(c), c); });
    line(series.failed, 'failed', null, 'failed');
    line(series.total, 'total', null, 'total');
    box.appendChild(s);
    var leg = $('chart-legend'); clear(leg);
    var last = series.total.length ? series.total[series.total.length - 1][1] : 0;
    add(leg, add(el('span'), el('span', 'swatch total'), el('span', null, 'total ' + (last >= 10 ? Math.round(last) : last.toFixed(1)) + '/s')));
    ids.forEach(function (c) { add(leg, add(el('span'), swatch(c, 'owned'), el('span', 'mono', c))); });
    add(leg, add(el('span'), el('span', 'swatch failed'), el('span', null, 'failed')), add(el('span'), el('span', 'swatch move'), el('span', null, 'ownership moves')));
    $('chart-meta').textContent = 'completed jobs/s' + (group > 1 ? ' (' + fmtDuration(group * OPS.bucketMs) + ' averages)' : '') + ', since ' + clock(new Date(start).toISOString()).slice(0, 8);
  }
  window.addEventListener('resize', function () { if (OPS.on) renderChart(); });

  // ---- partition panel ------------------------------------------------------------------------
  function opsDetail(box, found) {
    var l = lagOf(found.lease.name, found.part.partition);
    if (l) {
      var dl = el('dl', 'ops');
      row(dl, 'Lag', l.lagMs === null ? 'nothing waiting' : fmtDuration(l.lagMs));
      row(dl, 'Waiting', l.waiting);
      var st = row(dl, 'Stuck', l.stuck ? el('span', 'badge stuck', 'stuck for ' + fmtDuration(l.headForMs)) : 'no');
      st.setAttribute('data-stuck-detail', l.stuck ? 'true' : 'false');
      box.appendChild(dl);
    }
    var pinned = S.pinned && S.pinned.lease === found.lease.name && S.pinned.partition === found.part.partition;
    if (!pinned || !found.part.queue) {
      if (found.part.queue) box.appendChild(el('p', 'hint', 'Click to pin it and see its running jobs and last failures.'));
      return;
    }
    var key = found.lease.name + '/' + found.part.partition;
    if (OPS.jobsFor !== key) { OPS.jobsFor = key; OPS.jobs = null; loadJobs(); }
    var j = OPS.jobs;
    if (!j) { box.appendChild(el('p', 'hint', 'Reading jobs\u2026')); return; }
    if (j.error) { box.appendChild(el('p', 'err', j.error)); return; }
    var nx = el('dl', 'ops');
    row(nx, 'Next job', j.next ? el('span', 'mono', j.next.id + ' ' + j.next.name) : null);
    if (j.next && j.next.lastError) row(nx, 'Last error', j.next.lastError + ' (attempt ' + j.next.attempts + ')');
    if (j.backoffUntil) row(nx, 'Backing off', 'next attempt ' + rel(new Date(j.backoffUntil + S.offset).toISOString()));
    box.appendChild(nx);
    box.appendChild(el('h3', null, 'Running (' + j.running.length + ')'));
    box.appendChild(jobTable(['Job', 'Started', 'Try', 'Worker'], j.running.map(function (r) {
      return [r.id + ' ' + r.name, r.startedAt ? fmtDuration(Date.now() - r.startedAt) + ' ago' : '\u2014', r.attempt, r.worker || '\u2014'];
    }), 'running'));
    box.appendChild(el('h3', null, 'Last failures'));
    box.appendChild(jobTable(['Job', 'When', 'Tries', 'Reason'], j.failures.map(function (f) {
      return [f.id + ' ' + f.name, f.failedAt ? clock(new Date(f.failedAt).toISOString()) : '\u2014', f.attempts, f.reason];
    }), 'failures'));
  }
  function jobTable(head, rows, name) {
    if (!rows.length) return el('p', 'hint', 'none');
    var t = el('table', 'jobs-table'); t.setAttribute('data-jobs', name);
    var tr = el('tr'); head.forEach(function (h) { tr.appendChild(el('th', null, h)); }); t.appendChild(tr);
    rows.forEach(function (r) { var row = el('tr'); r.forEach(function (c) { row.appendChild(el('td', null, c)); }); t.appendChild(row); });
    return t;
  }
  function loadJobs() {
    clearTimeout(OPS.jobsTimer);
    var sel = S.pinned;
    if (!sel) { OPS.jobsFor = null; return; }
    var key = sel.lease + '/' + sel.partition;
    fetch('api/leases/' + encodeURIComponent(sel.lease) + '/partitions/' + sel.partition, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.json().then(function (b) { return r.ok ? b : { error: b.error || ('HTTP ' + r.status) }; }); })
      .then(function (b) { if (OPS.jobsFor === key) { OPS.jobs = b; renderDetail(); } }, function () {})
      .then(function () { if (OPS.jobsFor === key) OPS.jobsTimer = setTimeout(loadJobs, 2000); });
  }
`;
