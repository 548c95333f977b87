/**
 * The page's script: plain browser JavaScript, no build step. Every string that came from the database
 * reaches the DOM through `textContent` or `setAttribute` (never `innerHTML`), so a client id like
 * `<img src=x onerror=alert(1)>` shows as text. Colours are a pure function of the client id (FNV-1a),
 * so every dashboard and every reload shows a client in the same colour.
 */
import { OPS_SCRIPT } from './page-ops.js';

export const PAGE_SCRIPT =
  String.raw`
(function () {
  'use strict';
  var S = { snap: null, offset: 0, ages: {}, agesAt: 0, expires: {}, pinned: null, hover: null, cards: {}, es: null, lastEvent: 0, attempts: 0, timer: null };
  var root = document.body;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent) { for (var i = 1; i < arguments.length; i++) if (arguments[i]) parent.appendChild(arguments[i]); return parent; }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function $(id) { return document.getElementById(id); }

  function fnv1a(s) {
    var h = 0x811c9dc5;
    for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
    return h >>> 0;
  }
  // 16 well-separated colours; an id picks one by its FNV-1a hash. Ids that differ only in a last
  // digit (worker-0 ... worker-9) always get different colours: with the same prefix, the low 4 bits
  // of FNV-1a are a bijection of the last character's low 4 bits.
  var PALETTE = ['#0891b2', '#dc2626', '#65a30d', '#c026d3', '#ea580c', '#475569', '#92400e', '#16a34a',
    '#0f766e', '#4338ca', '#b7791f', '#9f1239', '#1e3a8a', '#2563eb', '#7c3aed', '#db2777'];
  var colours = {};
  function colour(id) {
    if (!colours[id]) colours[id] = PALETTE[fnv1a(id) % PALETTE.length];
    return colours[id];
  }
  function swatch(id, status) {
    var s = el('span', 'swatch');
    if (id === null || status === 'unowned') s.className = 'swatch none';
    else s.style.backgroundColor = colour(id);
    return s;
  }
  function who(id, status) {
    if (id === null || id === undefined) return el('span', 'muted', '\u2014');
    var w = el('span', 'who');
    add(w, swatch(id, status), el('span', 'mono', id));
    return w;
  }

  function dbNow() { return Date.now() + S.offset; }
  function fmtDuration(ms) {
    var s = Math.abs(ms) / 1000;
    if (s < 10) return s.toFixed(1) + ' s';
    if (s < 60) return Math.round(s) + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d';
  }
  function rel(iso) {
    if (!iso) return '\u2014';
    var d = Date.parse(iso) - dbNow();
    return d >= 0 ? 'in ' + fmtDuration(d) : fmtDuration(d) + ' ago';
  }
  function clock(iso) {
    var d = new Date(iso);
    function p(n, w) { n = String(n); while (n.length < (w || 2)) n = '0' + n; return n; }
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.' + p(d.getMilliseconds(), 3);
  }
  function ranges(values) {
    var out = [], i = 0;
    while (i < values.length) {
      var start = values[i], end = start;
      while (i + 1 < values.length && values[i + 1] === end + 1) end = values[++i];
      out.push(start === end ? String(start) : start + '-' + end);
      i++;
    }
    return out.join(',');
  }
  function heartbeatAge(id) {
    var a = S.ages[id];
    return a === undefined ? undefined : a + (Date.now() - S.agesAt);
  }

  // ---- stream -------------------------------------------------------------------------------
  function setStream(state, text) {
    root.setAttribute('data-stream', state);
    $('conn').setAttribute('data-state', state);
    $('conn-text').textContent = text;
  }
  function alive() { S.lastEvent = Date.now(); if (root.getAttribute('data-stream') !== 'live') setStream('live', 'Live'); }
  function connect() {
    S.timer = null;
    setStream(S.attempts ? 'lost' : 'connecting', S.attempts ? 'Stream lost \u2014 reconnecting\u2026' : 'Connecting\u2026');
    var es = new EventSource('events');
    S.es = es;
    // A fresh stream starts clean: the server repeats a problem that still holds.
    es.addEventListener('open', function () { S.attempts = 0; problem(null); alive(); });
    es.addEventListener('snapshot', function (e) { alive(); apply(JSON.parse(e.data)); });
    es.addEventListener('clock', function (e) {
      alive();
      var c = JSON.parse(e.data);
      S.offset = Date.parse(c.now) - Date.now();
      S.ages = c.heartbeatAgeMs; S.agesAt = Date.now();
      S.expires = c.expiresAt || {};
      tick();
    });
    es.addEventListener('problem', function (e) { alive(); problem(JSON.parse(e.data).message); });
    es.addEventListener('ops', function (e) { alive(); onOps(JSON.parse(e.data)); });
    es.onerror = function () { lost(); };
  }
  function lost() {
    if (S.es) { S.es.close(); S.es = null; }
    if (S.timer) return;
    S.attempts++;
    setStream('lost', 'Stream lost \u2014 reconnecting\u2026');
    var delay = Math.min(5000, 400 * S.attempts);
    S.timer = setTimeout(function () {
      // A stream refused for lack of the token looks like any error: ask once, and log in again if so.
      fetch('api/leases', { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
        if (r.status === 401) location.reload(); else connect();
      }, connect);
    }, delay);
  }
  setInterval(function () {
    // Events come at least every second; silence means a stalled connection even if no error fired.
    if (S.es && root.getAttribute('data-stream') === 'live' && Date.now() - S.lastEvent > 5000) lost();
  }, 1000);
  function problem(message) {
    var b = $('problem');
    if (message) { b.hidden = false; b.className = 'banner bad'; b.textContent = 'The database read failed: ' + message + ' (retrying)'; }
    else { b.hidden = true; b.textContent = ''; }
  }

  // ---- rendering ----------------------------------------------------------------------------
  function apply(snap) {
    S.snap = snap;
    S.offset = Date.parse(snap.now) - Date.now();
    S.ages = {}; S.agesAt = Date.now(); S.expires = {};
    snap.clients.forEach(function (c) { S.ages[c.id] = c.heartbeatAgeMs; S.expires[c.id] = c.expiresAt; });
    renderSummary(snap); renderLeases(snap); opsGrid(); renderClients(snap); renderHistory(snap); renderDetail();
    var rp = $('redis-problem');
    if (snap.redis && snap.redis.error) { rp.hidden = false; rp.textContent = 'Queue counts unavailable: Redis read failed: ' + snap.redis.error; }
    else { rp.hidden = true; rp.textContent = ''; }
    $('updated').textContent = 'Last change ' + clock(snap.now);
  }

  function stat(label, value, cls, note) {
    var d = el('div', 'stat');
    var v = el('div', 'v' + (cls ? ' ' + cls : ''), value);
    if (note) v.appendChild(el('small', null, note));
    add(d, el('div', 'k', label), v);
    return d;
  }
  function renderSummary(snap) {
    var parts = 0, unowned = 0, live = 0;
    snap.leases.forEach(function (l) { parts += l.size; unowned += l.unowned; });
    snap.clients.forEach(function (c) { if (c.state !== 'expired') live++; });
    var s = $('summary'); clear(s);
    add(s, stat('Leases', snap.leases.length), stat('Partitions', parts), stat('Unowned', unowned, unowned ? 'warn' : ''),
      stat('Clients', live, '', snap.clients.length > live ? (snap.clients.length - live) + ' expired' : ''),
      stat('Last move', snap.history.length ? rel(snap.history[0].at) : '\u2014'));
    s.lastChild.lastChild.id = 'last-move';
    opsStats(s);
  }

  function leaseCard(lease) {
    var card = el('section', 'card lease');
    card.setAttribute('data-lease', lease.name);
    var head = el('div', 'lease-head');
    var h = el('h2');
    add(h, el('span', 'mono', lease.name), el('span', 'meta'));
    var legend = el('div', 'legend');
    add(head, h, legend);
    var grid = el('div', 'grid' + (lease.size > 256 ? ' dense' : ''));
    grid.setAttribute('role', 'grid');
    var cells = [];
    for (var p = 0; p < lease.size; p++) {
      var c = el('div', 'cell', lease.size > 256 ? '' : p);
      c.setAttribute('data-partition', String(p));
      c.addEventListener('mouseenter', onEnter(lease.name, p));
      c.addEventListener('click', onClick(lease.name, p));
      grid.appendChild(c); cells.push(c);
    }
    grid.addEventListener('mouseleave', function () { S.hover = null; renderDetail(); });
    add(card, head, grid);
    return { card: card, meta: h.lastChild, legend: legend, cells: cells, size: lease.size };
  }
  function onEnter(name, p) { return function () { S.hover = { lease: name, partition: p }; renderDetail(); }; }
  function onClick(name, p) {
    return function () {
      var same = S.pinned && S.pinned.lease === name && S.pinned.partition === p;
      S.pinned = same ? null : { lease: name, partition: p };
      markPinned(); renderDetail();
    };
  }
  function markPinned() {
    Object.keys(S.cards).forEach(function (name) {
      S.cards[name].cells.forEach(function (c, p) {
        c.classList.toggle('pinned', !!S.pinned && S.pinned.lease === name && S.pinned.partition === p);
      });
    });
  }
  function renderLeases(snap) {
    var host = $('leases'), seen = {};
    if (!snap.leases.length) {
      clear(host); S.cards = {};
      host.appendChild(add(el('section', 'card'), el('div', 'empty', 'No leases yet. Start a client: createClient(pool, id).lease(name, size).')));
      return;
    }
    if (host.firstChild && !host.firstChild.hasAttribute('data-lease')) clear(host);
    snap.leases.forEach(function (lease, i) {
      seen[lease.name] = true;
      var card = S.cards[lease.name];
      if (!card || card.size !== lease.size) {
        var fresh = leaseCard(lease);
        if (card) host.replaceChild(fresh.card, card.card);
        card = S.cards[lease.name] = fresh;
      }
      if (host.children[i] !== card.card) host.insertBefore(card.card, host.children[i] || null);
      var owners = {}, expired = 0;
      lease.partitions.forEach(function (part) {
        var c = card.cells[part.partition];
        if (!c) return;
        c.setAttribute('data-status', part.status);
        if (part.owner === null) c.removeAttribute('data-owner'); else c.setAttribute('data-owner', part.owner);
        c.style.backgroundColor = part.status === 'unowned' ? '' : colour(part.owner);
        c.setAttribute('aria-label', 'partition ' + part.partition + ': ' + (part.status === 'owned' ? part.owner : part.status));
        if (part.status === 'owned') owners[part.owner] = (owners[part.owner] || 0) + 1;
        if (part.status === 'expired') expired++;
        var q = c.querySelector('.q');
        var depth = part.jobs ? part.jobs.waiting + part.jobs.active : 0;
        if (depth > 0 && lease.size <= 256) {
          if (!q) { q = el('span', 'q'); c.appendChild(q); }
          q.textContent = depth > 999 ? '999+' : String(depth);
        } else if (q) c.removeChild(q);
      });
      card.meta.textContent = lease.size + ' partitions \u00b7 ' + lease.owned + ' owned' + (lease.unowned ? ' \u00b7 ' + lease.unowned + ' unowned' : '') +
        ' \u00b7 ' + lease.members.length + ' member' + (lease.members.length === 1 ? '' : 's');
      clear(card.legend);
      Object.keys(owners).sort().forEach(function (id) {
        var s = el('span'); add(s, swatch(id, 'owned'), el('span', 'mono', id), el('span', 'muted', String(owners[id])));
        card.legend.appendChild(s);
      });
      if (expired) { var x = el('span'); var sw = el('span', 'swatch striped'); add(x, sw, el('span', null, 'owner expired ' + expired)); card.legend.appendChild(x); }
      if (lease.unowned - expired > 0) { var u = el('span'); add(u, swatch(null, 'unowned'), el('span', null, 'unowned ' + (lease.unowned - expired))); card.legend.appendChild(u); }
    });
    Object.keys(S.cards).forEach(function (name) {
      if (!seen[name]) { host.removeChild(S.cards[name].card); delete S.cards[name]; }
    });
    markPinned();
  }

  function renderClients(snap) {
    var body = $('clients-body'); clear(body);
    $('clients-meta').textContent = snap.clients.length + (snap.clients.length === 1 ? ' client' : ' clients');
    if (!snap.clients.length) {
      var tr0 = el('tr'); var td0 = el('td', 'empty', 'No clients.'); td0.colSpan = 6; body.appendChild(add(tr0, td0)); return;
    }
    snap.clients.forEach(function (c) {
      var tr = el('tr');
      tr.setAttribute('data-client', c.id);
      var parts = el('td', 'ranges');
      var names = Object.keys(c.partitions).sort();
      if (!names.length) parts.appendChild(el('span', 'muted', '\u2014'));
      names.forEach(function (name, i) {
        var line = el('div');
        if (names.length > 1 || snap.leases.length > 1) add(line, el('b', null, name + ' '));
        var text = ranges(c.partitions[name]);
        var shown = el('span', null, text.length > 180 ? text.slice(0, text.lastIndexOf(',', 170)) + ', \u2026' : text);
        if (shown.textContent !== text) shown.title = text;
        add(line, shown);
        parts.appendChild(line);
        if (i > 0) line.style.marginTop = '2px';
      });
      var age = el('td', 'num age');
      age.setAttribute('data-age-of', c.id);
      var info = c.info || {};
      var host = [info.hostname, info.pid !== undefined ? 'pid ' + info.pid : null].filter(function (x) { return x !== undefined && x !== null && x !== ''; }).join(' \u00b7 ');
      add(tr, add(el('td'), who(c.id, 'owned')), add(el('td'), el('span', 'badge ' + c.state, c.state)), parts,
        el('td', 'num', c.count), age, el('td', 'muted mono', host || '\u2014'));
      body.appendChild(tr);
    });
    tick();
  }

  function renderHistory(snap) {
    var body = $('history-body'); clear(body);
    if (!snap.history.length) {
      var tr0 = el('tr'); var td0 = el('td', 'empty', 'No moves yet.'); td0.colSpan = 6; body.appendChild(add(tr0, td0)); return;
    }
    snap.history.forEach(function (m) {
      var tr = el('tr');
      var at = el('td', 'mono', clock(m.at)); at.title = m.at;
      var move = el('td');
      add(move, who(m.from, 'owned'), el('span', 'arrow', '\u2192'), who(m.to, 'owned'));
      add(tr, at, el('td', 'mono', m.lease), el('td', 'num', m.partition), move,
        add(el('td'), el('span', 'badge ' + m.reason, m.reason)), el('td', 'num', m.epoch));
      body.appendChild(tr);
    });
  }

  function findPartition(sel) {
    if (!sel || !S.snap) return null;
    for (var i = 0; i < S.snap.leases.length; i++) {
      var l = S.snap.leases[i];
      if (l.name === sel.lease) return { lease: l, part: l.partitions[sel.partition] };
    }
    return null;
  }
  function row(dl, label, value) {
    dl.appendChild(el('dt', null, label));
    var dd = el('dd');
    if (value && value.nodeType) dd.appendChild(value); else dd.textContent = value === null || value === undefined ? '\u2014' : String(value);
    dl.appendChild(dd);
    return dd;
  }
  function renderDetail() {
    var box = $('detail-body'); clear(box);
    var found = findPartition(S.pinned || S.hover);
    $('detail-title').textContent = 'Partition details';
    if (!found || !found.part) {
      box.appendChild(el('p', 'hint', 'Hover a partition for its owner, epoch and expiry; click to pin it.'));
      return;
    }
    var p = found.part;
    $('detail-title').textContent = 'Partition ' + p.partition + (S.pinned ? ' (pinned)' : '');
    var dl = el('dl');
    row(dl, 'Lease', el('span', 'mono', found.lease.name));
    row(dl, 'Partition', p.partition);
    row(dl, 'Owner', who(p.owner, p.status));
    row(dl, 'Status', el('span', 'badge ' + p.status, p.status === 'expired' ? 'owner expired' : p.status));
    row(dl, 'Epoch', p.epoch);
    row(dl, 'Owned since', p.ownedSince ? rel(p.ownedSince) : null);
    // A partition's expiry is its owner's: renewed by every heartbeat, so read it from the clock events.
    var exp = row(dl, 'Expires', p.expiresAt ? rel(p.expiresAt) : null);
    exp.setAttribute('data-expires-of', p.expiresAt && p.owner !== null ? p.owner : '');
    if (p.queue) row(dl, 'Queue', el('span', 'mono', p.queue));
    box.appendChild(dl);
    if (p.jobs) {
      var jobs = el('div', 'jobs');
      ['waiting', 'active', 'delayed', 'failed'].forEach(function (k) {
        var d = el('div'); add(d, el('div', 'n', p.jobs[k]), el('div', 'l', k)); jobs.appendChild(d);
      });
      box.appendChild(jobs);
    }
    if (OPS.on) opsDetail(box, found);
  }

  function tick() {
    var cells = document.querySelectorAll('[data-age-of]');
    for (var i = 0; i < cells.length; i++) {
      var a = heartbeatAge(cells[i].getAttribute('data-age-of'));
      cells[i].textContent = a === undefined ? '\u2014' : fmtDuration(a) + ' ago';
    }
    var exp = document.querySelector('[data-expires-of]');
    var owner = exp && exp.getAttribute('data-expires-of');
    if (owner && S.expires[owner]) exp.textContent = rel(S.expires[owner]);
    var last = $('last-move');
    if (last && S.snap && S.snap.history.length) last.textContent = rel(S.snap.history[0].at);
  }
  setInterval(tick, 250);

` +
  OPS_SCRIPT +
  String.raw`
  connect();
})();
`;
