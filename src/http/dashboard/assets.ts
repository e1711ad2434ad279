/** The dashboard's own stylesheet (uPlot's comes with it on the overview): plain CSS, readable at phone width. */
export const CSS = `
:root { color-scheme: light dark; --fg: #1d1f21; --bg: #fafafa; --muted: #666; --line: #d0d0d0; --accent: #2a62c9; --ok: #1a7f37; --bad: #b42318; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e6e6; --bg: #16181a; --muted: #9aa; --line: #3a3d40; --accent: #7aa7ff; --ok: #4ac26b; --bad: #ff7b72; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header nav { display: flex; flex-wrap: wrap; gap: .25rem .9rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
nav a { color: var(--accent); text-decoration: none; padding: .2rem 0; }
nav a[aria-current="page"] { font-weight: 600; text-decoration: underline; }
.brand { font-weight: 700; margin-right: .5rem; }
main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
main.narrow { max-width: 26rem; margin-top: 10vh; }
h1 { font-size: 1.4rem; margin: .2rem 0 1rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
table.wide td.mono, table.wide td.muted { white-space: nowrap; overflow-wrap: normal; } table.wide td:last-child { min-width: 20rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, .mono { font-family: ui-monospace, monospace; font-size: .85rem; overflow-wrap: anywhere; white-space: pre-wrap; }
form.inline { display: inline; margin: 0; }
form.row { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin: .5rem 0; }
label { display: flex; flex-direction: column; gap: .2rem; font-size: .9rem; }
input, select, textarea, button { font: inherit; padding: .4rem .6rem; border: 1px solid var(--line); border-radius: 6px; background: transparent; color: inherit; max-width: 100%; }
textarea { width: 100%; min-height: 4.5rem; }
button { cursor: pointer; background: var(--accent); color: #fff; border-color: var(--accent); }
button.secondary { background: transparent; color: var(--accent); }
.notice { padding: .5rem .75rem; border-radius: 6px; border: 1px solid var(--line); overflow-wrap: anywhere; }
.notice.ok { border-color: var(--ok); } .notice.bad { border-color: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; }
.card .big { font-size: 1.8rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); font-size: .85rem; }
.state-running { color: var(--ok); } .state-failed { color: var(--bad); } .state-restarting, .state-starting { color: #b7791f; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 24rem), 1fr)); gap: .75rem; margin-top: .75rem; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; min-width: 0; }
figure.chart h2 { margin: 0 0 .4rem; }
figure.chart figcaption { font-size: .85rem; color: var(--muted); margin-top: .3rem; }
.plot { min-height: 200px; width: 100%; overflow: hidden; }
.uplot { font-family: inherit; } .u-legend { font-size: .8rem; }
td.error-text, span.error-text { overflow-wrap: anywhere; }
td.error-text { min-width: 14rem; }
code.summary { display: block; color: var(--muted); }
table.approvals td.mono, table.approvals td.muted { white-space: nowrap; overflow-wrap: normal; }
table.approvals td.decision button { margin: .1rem 0; }
table.approvals td.tool { min-width: 9rem; }
ul.verdicts { list-style: none; padding: 0; margin: .75rem 0; }
ul.verdicts li { padding: .35rem 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
ul.verdicts li.ok strong { color: var(--ok); } ul.verdicts li.bad strong { color: var(--bad); }
.transcript { display: flex; flex-direction: column; gap: .5rem; margin: 1rem 0; }
.msg { border: 1px solid var(--line); border-radius: 8px; padding: .5rem .75rem; max-width: 100%; }
.msg .who { display: block; font-size: .75rem; color: var(--muted); }
.msg .text { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
/* Inline blocks: the rendered reply's own line breaks space them, as on the chat platforms. */
.msg .text pre, .msg .text blockquote { display: inline-block; box-sizing: border-box; width: 100%; margin: 0; vertical-align: top; }
.msg .text pre { overflow-x: auto; padding: .4rem; background: var(--code, rgba(127,127,127,.12)); border-radius: 4px; }
.msg .text blockquote { padding-left: .6rem; border-left: 3px solid var(--line); color: var(--muted); }
.msg-user { align-self: flex-end; } .msg-assistant { align-self: flex-start; }
.pager { display: flex; gap: 1rem; margin: .75rem 0; }
form.stack { max-width: 44rem; }
fieldset { border: 1px solid var(--line); border-radius: 8px; margin: 1rem 0; padding: .25rem .8rem .6rem; min-width: 0; }
legend { font-weight: 600; padding: 0 .3rem; }
.field { margin: .75rem 0; }
.field label { font-weight: 600; }
.field input, .field select, .field textarea { width: 100%; }
.field .hint, .field-error { margin: .25rem 0 0; font-size: .85rem; overflow-wrap: anywhere; }
.field-error { color: var(--bad); font-weight: 600; }
.field.invalid input, .field.invalid select, .field.invalid textarea { border-color: var(--bad); border-width: 2px; }
#form-errors ul { margin: .25rem 0; padding-left: 1.2rem; }
`;

/**
 * The dashboard's own script: live overview over SSE (figures, process rows, and the uPlot charts when uPlot is
 * loaded), and web chat whose reply streams in over SSE. Text from messages is only ever set with textContent; the one
 * markup set is a markdown reply's html, which the gateway rendered with every text node escaped.
 */
export const JS = `'use strict';
(() => {
  const byId = (id) => document.getElementById(id);
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || '';

  const figure = (v) => (v === null ? '—' : String(v));

  function fillRows(id, items, cols) {
    const body = byId(id);
    if (!body) return;
    body.replaceChildren(...items.map((item) => {
      const tr = document.createElement('tr');
      for (const col of cols) {
        const td = document.createElement('td');
        td.textContent = String(item[col]);
        if (typeof item[col] === 'number') td.className = 'num';
        tr.append(td);
      }
      return tr;
    }));
  }

  /** The process rows carry a link and a form: only their figures change, in place. */
  function showProcesses(rows) {
    const body = byId('process-rows');
    if (!body) return;
    const byName = new Map(rows.map((r) => [r.name, r]));
    for (const tr of body.rows) {
      const p = byName.get(tr.dataset.process);
      if (!p) continue;
      const set = (col, text) => { const td = tr.querySelector('[data-col="' + col + '"]'); if (td) td.textContent = text; };
      set('state', p.state);
      const state = tr.querySelector('[data-col="state"]');
      if (state) state.className = /^[a-z]+$/.test(p.state) ? 'state-' + p.state : '';
      set('error', p.lastError ? p.lastError.text : '—');
      set('errorAt', p.lastError ? p.lastError.at : '');
      set('in', p.in === null ? '' : String(p.in));
      set('out', p.out === null ? '' : String(p.out));
    }
  }

  /** A uPlot chart in the element, as wide as it is; the text beside it says the same in words. */
  function chart(id, series) {
    const el = byId(id);
    if (!el || typeof uPlot !== 'function') return undefined;
    const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    const size = () => ({ width: Math.max(200, el.clientWidth), height: 200 });
    const axis = { stroke: css('--muted'), grid: { stroke: css('--line'), width: 1 }, ticks: { stroke: css('--line'), width: 1 } };
    const two = (n) => String(n).padStart(2, '0');
    const clock = (t) => { const d = new Date(t * 1000); return two(d.getHours()) + ':' + two(d.getMinutes()); };
    const plot = new uPlot({
      ...size(),
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, (max || 0) * 1.15)] } },
      series: [
        { label: 'time', value: (u, t) => (t == null ? '—' : clock(t) + ':' + two(new Date(t * 1000).getSeconds())) },
        // Dots as well as lines: a lone measurement between empty intervals has no line to draw.
        ...series.map((s) => ({ label: s.label, stroke: css(s.color), width: 2, points: { show: s.dots, size: 5 }, value: (u, v) => (v == null ? '—' : v + s.unit) })),
      ],
      axes: [{ ...axis, space: 44, values: (u, ticks) => ticks.map(clock) }, { ...axis, size: 48 }],
      cursor: { drag: { x: false, y: false } },
    }, [[], ...series.map(() => [])], el);
    window.addEventListener('resize', () => plot.setSize(size()));
    return plot;
  }

  const throughput = chart('chart-throughput', [{ label: 'in', color: '--accent', unit: '', dots: false }, { label: 'out', color: '--ok', unit: '', dots: false }]);
  const latency = chart('chart-latency', [{ label: 'p50', color: '--accent', unit: ' ms', dots: true }, { label: 'p95', color: '--bad', unit: ' ms', dots: true }]);

  function showSnapshot(s) {
    for (const el of document.querySelectorAll('[data-field]')) {
      const v = el.dataset.field.split('.').reduce((o, k) => (o == null ? undefined : o[k]), s);
      if (v !== undefined) el.textContent = figure(v);
    }
    showProcesses(s.children);
    fillRows('queue-rows', s.queues, ['name', 'waiting', 'active', 'dead']);
    fillRows('platform-rows', s.platforms, ['platform', 'in', 'out']);
    if (throughput) throughput.setData([s.series.t, s.series.in, s.series.out]);
    if (latency) latency.setData([s.series.t, s.series.p50, s.series.p95]);
  }

  const live = byId('live-status');
  if (live) {
    const events = new EventSource('/events');
    events.addEventListener('snapshot', (e) => { showSnapshot(JSON.parse(e.data)); live.textContent = 'live'; });
    events.addEventListener('error', () => {
      if (events.readyState !== EventSource.CLOSED) { live.textContent = 'reconnecting…'; return; }
      // Refused for good (a 401: the session ended, a new password was set): to the sign-in page, as any page would
      // go, instead of "reconnecting…" over stale figures for ever.
      fetch('/', { headers: { accept: 'text/html' }, redirect: 'manual' }).then(
        (r) => (r.type === 'opaqueredirect' || r.status === 401 ? location.assign('/login') : (live.textContent = 'stopped: reload the page')),
        () => { live.textContent = 'stopped: reload the page'; },
      );
    });
  }

  function addMessage(list, who, text) {
    const box = document.createElement('div');
    box.className = 'msg msg-' + who;
    const label = document.createElement('span');
    label.className = 'who';
    // As the server labels the history, so a reload reads the same.
    label.textContent = (who === 'user' ? 'user' : 'assistant') + ' · ' + new Date().toISOString();
    const p = document.createElement('p');
    p.className = 'text';
    p.textContent = text;
    box.append(label, p);
    list.append(box);
    return p;
  }

  // A markdown reply's html (and its drafts') was rendered by the gateway from the parsed tree, every text node
  // escaped; it replaces the element that showed the reply so far with one that may hold blocks.
  function showReply(out, reply) {
    if (!reply.html) { out.textContent = reply.text; return out; }
    // Each draft of a markdown reply replaces the last, as the reply replaces them all.
    const box = document.createElement('div');
    box.className = 'text';
    box.innerHTML = reply.html;
    out.replaceWith(box);
    return box;
  }

  function parseBlock(block) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    return { event, data: data.length ? JSON.parse(data.join('\\n')) : null };
  }

  const form = byId('chat-form');
  // Enter writes a new line, as in any text area; Ctrl+Enter (Cmd+Enter) sends.
  if (form) form.elements.text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
  });
  if (form) form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const list = byId('transcript');
    // Line breaks left after the last line are not part of the message.
    const text = form.elements.text.value.replace(/[\\r\\n]+$/, '');
    if (!text.trim()) return;
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    addMessage(list, 'user', text);
    let out = addMessage(list, 'assistant', '');
    const msg = out.parentElement;
    msg.setAttribute('aria-busy', 'true');
    form.elements.text.value = '';
    try {
      const res = await fetch('/chat/stream', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrf(), accept: 'text/event-stream' },
        body: JSON.stringify({ assistant: form.elements.assistant.value, text }),
      });
      if (!res.ok || !res.body) throw new Error('the gateway answered ' + res.status);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf('\\n\\n')) >= 0) {
          const { event, data } = parseBlock(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (event === 'draft' || event === 'reply') out = showReply(out, data);
          else if (event === 'notice' || event === 'failure') { out.textContent = data; msg.classList.add('notice'); }
        }
      }
    } catch (error) {
      out.textContent = 'Not sent: ' + error.message;
    } finally {
      msg.removeAttribute('aria-busy');
      button.disabled = false;
      form.elements.text.focus();
    }
  });
})();
`;
