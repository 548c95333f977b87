/** The single HTML page and the login page. No database string is ever written into this HTML. */
import { PAGE_SCRIPT } from './page-script.js';
import { PAGE_STYLE } from './page-style.js';

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const LOGO = '<span class="logo" aria-hidden="true"><i></i><i></i><i></i><i></i></span>';

export function dashboardPage(opts: {
  nonce: string;
  schema: string;
  tablePrefix: string;
  links: { text: string; url: string }[];
}): string {
  const where = escapeHtml(`${opts.schema}.${opts.tablePrefix}`);
  const links = opts.links.map((l) => `<a href="${escapeHtml(l.url)}">${escapeHtml(l.text)}</a>`).join('');
  const nonce = escapeHtml(opts.nonce);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dbleases · ${where}</title>
<style nonce="${nonce}">${PAGE_STYLE}</style>
</head>
<body data-stream="connecting">
<header class="top">
  <div class="brand">${LOGO}<span>dbleases</span><span class="sub">${where}</span></div>
  <nav class="links">${links}</nav>
  <div class="status" id="conn" data-state="connecting" role="status" aria-live="polite"><span class="dot"></span><span id="conn-text">Connecting…</span></div>
</header>
<div id="problem" class="banner" hidden></div>
<div id="redis-problem" class="banner" hidden></div>
<div id="queue-problem" class="banner" hidden></div>
<div id="stuck" class="banner bad" role="alert" hidden></div>
<main>
  <section class="summary" id="summary"></section>
  <div class="layout">
    <div>
      <section class="card" id="throughput" hidden>
        <h2>Throughput <span class="meta" id="chart-meta"></span></h2>
        <div id="chart"></div>
        <div class="legend" id="chart-legend"></div>
      </section>
      <div id="leases"></div>
      <section class="card">
        <h2>Clients <span class="meta" id="clients-meta"></span></h2>
        <table id="clients"><thead><tr><th>Client</th><th>State</th><th>Partitions</th><th class="num">Count</th><th class="num">Heartbeat</th><th>Host</th></tr></thead><tbody id="clients-body"></tbody></table>
      </section>
      <section class="card">
        <h2>Recent moves <span class="meta">newest first</span></h2>
        <div class="scroll"><table id="history"><thead><tr><th>Time</th><th>Lease</th><th class="num">Partition</th><th>Move</th><th>Reason</th><th class="num">Epoch</th></tr></thead><tbody id="history-body"></tbody></table></div>
      </section>
    </div>
    <aside class="detail">
      <section class="card" id="detail"><h2 id="detail-title">Partition details</h2><div id="detail-body"></div></section>
      <footer><span id="updated"></span><br>Read-only · <a href="api/leases">JSON</a> · <a href="metrics">metrics</a></footer>
    </aside>
  </div>
</main>
<script nonce="${nonce}">${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

export function loginPage(opts: { nonce: string; failed: boolean }): string {
  const nonce = escapeHtml(opts.nonce);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dbleases · sign in</title>
<style nonce="${nonce}">${PAGE_STYLE}</style>
</head>
<body>
<header class="top"><div class="brand">${LOGO}<span>dbleases</span></div></header>
<main>
  <form class="card login" method="post" action="login">
    <h2>Sign in</h2>
    <p class="muted">This dashboard needs its access token (the <code>--token</code> it was started with).</p>
    ${opts.failed ? '<p class="err" role="alert">That token is not right.</p>' : ''}
    <label for="token">Token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
    <button type="submit">Open dashboard</button>
  </form>
</main>
</body>
</html>
`;
}
