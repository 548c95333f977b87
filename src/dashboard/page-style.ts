/** The page's stylesheet: plain CSS, no build step. */
export const PAGE_STYLE = `
:root {
  --bg: #f5f6f8; --card: #fff; --line: #e3e6eb; --text: #1b2330; --muted: #677385; --faint: #9aa4b2;
  --accent: #3056d3; --ok: #1f9d55; --warn: #c27c0e; --bad: #cf3a3a; --unowned: #eceff3;
  --radius: 10px; --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
html, body { margin: 0; }
body { background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header.top { display: flex; align-items: center; justify-content: space-between; gap: 16px; padding: 12px 24px; background: #111827; color: #f3f4f6; }
.brand { display: flex; align-items: baseline; gap: 10px; font-weight: 650; font-size: 17px; letter-spacing: .2px; }
.brand .sub { font-weight: 400; font-size: 13px; color: #9ca3af; font-family: var(--mono); }
.logo { display: inline-grid; grid-template-columns: repeat(2, 7px); gap: 2px; align-self: center; }
.logo i { width: 7px; height: 7px; border-radius: 2px; display: block; background: #60a5fa; }
.logo i:nth-child(2) { background: #34d399; } .logo i:nth-child(3) { background: #f472b6; } .logo i:nth-child(4) { background: #fbbf24; }
.links { margin-left: auto; display: flex; gap: 16px; }
.links a { color: #cbd5e1; text-decoration: none; font-size: 13px; }
.links a:hover { color: #fff; text-decoration: underline; }
.status { display: inline-flex; align-items: center; gap: 8px; font-size: 13px; padding: 4px 12px; border-radius: 999px; background: #1f2937; color: #e5e7eb; }
.status .dot { width: 8px; height: 8px; border-radius: 50%; background: var(--faint); }
.status[data-state="live"] .dot { background: #34d399; box-shadow: 0 0 0 3px rgba(52, 211, 153, .25); }
.status[data-state="lost"] .dot, .status[data-state="connecting"] .dot { background: #fbbf24; animation: pulse 1s infinite alternate; }
@keyframes pulse { from { opacity: 1; } to { opacity: .35; } }
.banner { margin: 16px 24px 0; padding: 10px 14px; border-radius: 8px; background: #fff7e6; border: 1px solid #f5d48a; color: #7a4d00; }
.banner.bad { background: #fdecec; border-color: #f3b4b4; color: #8a1f1f; }
body[data-stream="lost"] main { opacity: .55; filter: grayscale(.4); transition: opacity .3s; }
main { padding: 20px 24px 40px; max-width: 1480px; margin: 0 auto; }
.summary { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-bottom: 16px; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); padding: 12px 16px; }
.stat .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .5px; }
.stat .v { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; margin-top: 2px; }
.stat .v.warn { color: var(--warn); }
.stat .v small { font-size: 13px; font-weight: 500; color: var(--muted); margin-left: 6px; }
.layout { display: grid; grid-template-columns: minmax(0, 1fr) 300px; gap: 16px; align-items: start; }
@media (max-width: 1000px) { .layout { grid-template-columns: minmax(0, 1fr); } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); padding: 16px 18px; margin-bottom: 16px; box-shadow: 0 1px 2px rgba(16, 24, 40, .04); }
.card h2 { margin: 0 0 12px; font-size: 15px; font-weight: 650; display: flex; align-items: baseline; gap: 10px; }
.card h2 .meta { font-weight: 400; color: var(--muted); font-size: 13px; }
.lease-head { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 8px 16px; margin-bottom: 12px; }
.lease-head h2 { margin: 0; }
.lease-head h2 .mono { font-size: 15px; font-weight: 650; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: 12px; color: var(--muted); }
.legend span { display: inline-flex; align-items: center; gap: 6px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(36px, 1fr)); gap: 4px; }
.grid.dense { grid-template-columns: repeat(auto-fill, minmax(14px, 1fr)); gap: 2px; }
.cell { position: relative; aspect-ratio: 1 / 1; border-radius: 5px; background: var(--unowned); border: 1px dashed #c8ced8; cursor: pointer;
  display: flex; align-items: center; justify-content: center; font: 600 11px/1 var(--mono); color: var(--faint); transition: background-color .35s ease, transform .1s ease; user-select: none; }
.cell[data-status="owned"] { border: 1px solid rgba(0, 0, 0, .08); color: #fff; text-shadow: 0 1px 1px rgba(0, 0, 0, .25); }
.cell[data-status="expired"] { border: 1px solid rgba(0, 0, 0, .1); color: #fff; opacity: .75;
  background-image: repeating-linear-gradient(135deg, rgba(255, 255, 255, .55) 0 3px, transparent 3px 7px); }
.cell:hover { transform: scale(1.08); z-index: 1; }
.cell.pinned { outline: 2px solid #111827; outline-offset: 1px; }
.grid.dense .cell { font-size: 0; border-radius: 3px; }
.cell .q { position: absolute; right: 1px; bottom: 1px; min-width: 13px; padding: 1px 2px; border-radius: 4px; background: rgba(17, 24, 39, .78);
  color: #fff; font: 600 9px/1 var(--mono); text-shadow: none; text-align: center; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 3px; flex: none; }
.swatch.none { background: var(--unowned); border: 1px dashed #c8ced8; }
.swatch.striped { background-image: repeating-linear-gradient(135deg, #bbb 0 2px, transparent 2px 4px); border: 1px solid #ccc; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .4px; padding: 6px 10px; border-bottom: 1px solid var(--line); }
td { padding: 7px 10px; border-bottom: 1px solid #f0f2f5; vertical-align: top; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono { font-family: var(--mono); font-size: 12px; }
.who { display: inline-flex; align-items: center; gap: 6px; max-width: 320px; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.empty { color: var(--faint); padding: 10px 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; background: #eef1f5; color: #4b5565; }
.badge.live, .badge.owned, .badge.join { background: #e3f5ea; color: #17683a; }
.badge.draining, .badge.leave, .badge.rebalance { background: #e8eefc; color: #2a4aa8; }
.badge.expired, .badge.crash, .badge.self-fence { background: #fdecec; color: #9b2525; }
.badge.unowned { background: #eef1f5; color: #677385; }
.ranges { font-family: var(--mono); font-size: 12px; overflow-wrap: anywhere; word-break: break-all; }
#clients td:first-child { min-width: 160px; }
.ranges b { font-weight: 600; color: var(--muted); font-family: system-ui, sans-serif; }
.arrow { color: var(--faint); padding: 0 4px; }
.detail { position: sticky; top: 16px; }
.detail dl { display: grid; grid-template-columns: auto 1fr; gap: 6px 12px; margin: 0; font-size: 13px; }
.detail dt { color: var(--muted); }
.detail dd { margin: 0; overflow-wrap: anywhere; }
.detail .hint { color: var(--faint); font-size: 13px; }
.jobs { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 6px; margin-top: 14px; }
.jobs > div { background: #f6f7f9; border-radius: 8px; padding: 6px 2px; text-align: center; min-width: 0; }
.jobs .n { font-size: 17px; font-weight: 650; font-variant-numeric: tabular-nums; }
.jobs .l { font-size: 10px; color: var(--muted); text-transform: uppercase; letter-spacing: .3px; }
.scroll { max-height: 380px; overflow: auto; }
thead th { position: sticky; top: 0; background: var(--card); }
footer { color: var(--faint); font-size: 12px; text-align: center; padding: 8px 0 24px; }
.login { max-width: 380px; margin: 12vh auto; }
.login input { width: 100%; padding: 9px 11px; border: 1px solid #cfd5de; border-radius: 8px; font: inherit; margin: 6px 0 12px; }
.login button { width: 100%; padding: 9px 12px; border: 0; border-radius: 8px; background: var(--accent); color: #fff; font: 600 14px system-ui, sans-serif; cursor: pointer; }
.login .err { color: var(--bad); margin: 0 0 10px; }
.stat .v.bad { color: var(--bad); }
.toggle { display: inline-flex; align-items: center; gap: 0; margin-left: auto; margin-right: 12px; font-size: 12px; }
.toggle button { font: 600 12px system-ui, sans-serif; padding: 3px 10px; border: 1px solid #cfd5de; background: #fff; color: var(--muted); cursor: pointer; }
.toggle button:first-child { border-radius: 999px 0 0 999px; } .toggle button:nth-child(2) { border-radius: 0 999px 999px 0; border-left: 0; }
.toggle button.on { background: #111827; color: #fff; border-color: #111827; }
.heat-scale { display: inline-flex; align-items: center; gap: 6px; margin-left: 10px; color: var(--muted); }
.heat-scale i { display: inline-block; width: 70px; height: 8px; border-radius: 4px; background: linear-gradient(90deg, rgb(220, 252, 231), rgb(253, 224, 71) 35%, rgb(249, 115, 22) 70%, rgb(153, 27, 27)); }
.cell .heat { position: absolute; left: 2px; right: 2px; bottom: 2px; height: 4px; border-radius: 2px; pointer-events: none; }
.grid.dense .cell .heat { left: 0; right: 0; bottom: 0; height: 3px; border-radius: 0; }
[data-grid-mode="lag"] .cell .heat { display: none; }
[data-grid-mode="lag"] .cell { color: #1b2330; text-shadow: none; border-style: solid; border-color: rgba(0, 0, 0, .08); background-image: none; opacity: 1; }
.cell[data-stuck="true"] { outline: 2px solid var(--bad); outline-offset: 1px; }
.cell[data-stuck="true"]::after { content: "!"; position: absolute; left: 2px; top: 1px; font: 700 10px/1 var(--mono); color: #fff; background: var(--bad); border-radius: 3px; padding: 1px 3px; text-shadow: none; }
.grid.dense .cell[data-stuck="true"]::after { display: none; }
.badge.stuck { background: #fdecec; color: #9b2525; }
#chart svg { display: block; overflow: visible; }
#chart .gridline { stroke: #eef0f3; } #chart .baseline { stroke: #c8ced8; } #chart .tick { stroke: #c8ced8; }
#chart .axis { fill: var(--muted); font: 11px var(--mono); }
#chart .series { fill: none; stroke-linejoin: round; stroke-linecap: round; }
#chart .series.client { stroke-width: 1.5; opacity: .9; }
#chart .series.total { stroke: #111827; stroke-width: 2.2; }
#chart .series.failed { stroke: var(--bad); stroke-width: 1.5; stroke-dasharray: 4 3; }
#chart .move { fill: #f59e0b; } #chart .move.crash { fill: var(--bad); }
#chart .move-line { stroke: #f59e0b; stroke-width: 1; stroke-dasharray: 2 3; opacity: .55; } #chart .move-line.crash { stroke: var(--bad); }
.swatch.total { background: #111827; } .swatch.failed { background: var(--bad); } .swatch.move { background: #f59e0b; border-radius: 50%; }
.detail dl.ops { margin-top: 12px; }
.detail h3 { font-size: 12px; text-transform: uppercase; letter-spacing: .4px; color: var(--muted); margin: 14px 0 6px; }
.jobs-table { font-size: 12px; } .jobs-table th, .jobs-table td { padding: 4px 6px; } .jobs-table td { overflow-wrap: anywhere; }
.detail .err { color: var(--bad); font-size: 13px; }
`;
