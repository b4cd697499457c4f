// NIC Ledger dashboard: plain JavaScript, no build step, no other origin.
//
// Safety rule: text from the API (anything users wrote) only ever reaches the page through
// textContent, createTextNode or attribute values set with setAttribute (h() and s() below);
// nothing is parsed as HTML. The page's Content-Security-Policy forbids inline script besides.
//
// The token: asked once (or taken from /#token=…, then removed from the address bar), kept in
// localStorage, sent as "Authorization: Bearer" with every read, including the live feed, which
// is read with fetch() streaming rather than EventSource so the token never goes into a URL.
'use strict';

(() => {
  const TOKEN_KEY = 'nic-ledger.token';
  const NETWORK_KEY = 'nic-ledger.network';
  const FEED_MAX = 30;
  const REFRESH_DEBOUNCE_MS = 250;
  const TIMELINE_PAGE = 50;
  const KINDS = ['network', 'aim', 'diagram', 'root_cause', 'standard', 'program', 'measure',
    'data', 'signal', 'cycle', 'decision', 'synthesis'];
  const PHASES = ['planned', 'doing', 'studying', 'acted', 'abandoned'];

  const state = {
    token: null,
    networks: [],
    networkId: null,
    asOf: null, // RFC 3339 (UTC) while replaying the diagram and the timeline
    live: null, // AbortController of the live feed
    lastEventId: null,
    rendering: false,
    renderAgain: false,
    refreshTimer: null,
    renderSeq: 0,
    diagram: { showRetired: false },
    timeline: { key: '', cursors: [null] },
    chart: { highlight: null, rules: null, type: null },
    // The data-entry grid of a program's page, kept across re-renders (live updates redraw the
    // page): its measure, its rows as typed, each with its write's idempotency key and errors.
    grid: null,
    // The plan form of a program's page, kept the same way.
    plan: null,
    // The form of a cycle's next phase (start, do, study, act), kept the same way.
    step: null,
    // The hub's forms and the people page's, by prefix (apiForm), and a token just issued.
    forms: {},
    issued: null,
    notice: null,
    // A person's erasure seen as a dry run, waiting to be confirmed.
    erasing: null,
    // The admissions page's drawing for this sign-in (renderAdmissions).
    admissions: null,
  };

  // -------------------------------------------------------------------------------------------
  // DOM helpers: the only way this file makes elements.

  const SVG_NS = 'http://www.w3.org/2000/svg';

  function setProps(el, props) {
    if (!props) return;
    for (const [k, v] of Object.entries(props)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') el.textContent = String(v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function addKids(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false) continue;
      el.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return el;
  }

  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    setProps(el, props);
    return addKids(el, kids);
  }

  function s(tag, props, ...kids) {
    const el = document.createElementNS(SVG_NS, tag);
    setProps(el, props);
    return addKids(el, kids);
  }

  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;

  // -------------------------------------------------------------------------------------------
  // Formatting

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric',
      hour: '2-digit', minute: '2-digit' });
  }

  function humanType(t) {
    return String(t).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()
      .replace(/^./, (c) => c.toUpperCase()).replace(/pdsa/gi, 'PDSA');
  }

  function label(s) {
    return String(s || '').replace(/_/g, ' ');
  }

  /** A chart value in the measure's unit: ratios in percent are shown as percentages. */
  function fmtValue(chart, v) {
    if (v === null || v === undefined) return '–';
    if (chart.scale === 'ratio' && chart.unit === 'percent') return `${(v * 100).toFixed(1)}%`;
    const n = Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toFixed(2)).toString();
    return chart.unit ? `${n} ${chart.unit}` : n;
  }

  function toLocalInput(date) {
    const p = (n) => String(n).padStart(2, '0');
    return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
  }

  // -------------------------------------------------------------------------------------------
  // The API

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  async function api(path, params) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== null && v !== undefined && v !== '') url.searchParams.set(k, v);
    }
    const res = await fetch(url, {
      headers: { Authorization: `Bearer ${state.token}`, Accept: 'application/json' },
      cache: 'no-store',
    });
    if (res.status === 401) {
      forgetToken('The token was refused (unknown or revoked). Enter another one.');
      throw new ApiError(401, 'unauthorized');
    }
    if (!res.ok) {
      let detail = `${res.status} ${res.statusText}`;
      try {
        const p = await res.json();
        if (p && p.detail) detail = p.detail;
      } catch (_) { /* not JSON */ }
      throw new ApiError(res.status, detail);
    }
    return (res.headers.get('content-type') || '').includes('json') ? res.json() : res.text();
  }

  /** POSTs a command; the answer's status and body (a problem+json body on refusal). */
  /** A resource and its version (its ETag), for a write conditional on it (If-Match). */
  async function apiVersioned(path) {
    const res = await fetch(new URL(path, location.origin), {
      headers: { Authorization: `Bearer ${state.token}`, Accept: 'application/json' },
      cache: 'no-store',
    });
    if (res.status === 401) {
      forgetToken('The token was refused (unknown or revoked). Enter another one.');
      throw new ApiError(401, 'unauthorized');
    }
    if (!res.ok) throw new ApiError(res.status, `${res.status} ${res.statusText}`);
    const tag = /^"?(\d+)"?$/.exec(res.headers.get('etag') || '');
    return { body: await res.json(), version: tag ? Number(tag[1]) : null };
  }

  async function apiPost(path, body, key, ifMatch, occurredOn) {
    const res = await fetch(new URL(path, location.origin), {
      method: 'POST',
      headers: { Authorization: `Bearer ${state.token}`, Accept: 'application/json', 'Content-Type': 'application/json', 'Idempotency-Key': key,
        ...(ifMatch !== null && ifMatch !== undefined ? { 'If-Match': `"${ifMatch}"` } : {}),
        // The day what the write records happened, when that was not today (the network's clock).
        ...(occurredOn ? { 'Occurred-On': occurredOn } : {}) },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
    if (res.status === 401) {
      forgetToken('The token was refused (unknown or revoked). Enter another one.');
      throw new ApiError(401, 'unauthorized');
    }
    let answer = null;
    try { answer = await res.json(); } catch (_) { /* no body */ }
    return { status: res.status, ok: res.ok, answer };
  }

  /** Runs fn over items, at most n at a time, keeping the order of the answers. */
  async function pool(items, n, fn) {
    const out = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        try { out[i] = await fn(items[i], i); } catch (e) { out[i] = e; }
      }
    };
    await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
    return out;
  }

  const asOfParam = () => (state.asOf ? { as_of: state.asOf } : {});
  // Replay answers one of two questions: a day (YYYY-MM-DD) is the network's clock, what had
  // happened by then (including what was recorded later); a time is the ledger's, what it had
  // recorded by then.
  const byDay = () => !!state.asOf && /^\d{4}-\d{2}-\d{2}$/.test(state.asOf);
  const fmtDay = (d) => new Date(`${d}T12:00:00Z`).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' });
  function asOfWords() {
    if (!state.asOf) return '';
    return byDay() ? `as the work stood on ${fmtDay(state.asOf)}` : `as the ledger knew it at ${fmtTime(state.asOf)}`;
  }

  // -------------------------------------------------------------------------------------------
  // Token

  function tokenFromLink() {
    const m = /^#token=([^&]+)/.exec(location.hash);
    if (!m) return;
    try { localStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1])); } catch (_) { /* private mode */ }
    // Out of the address bar (and history) at once.
    history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  }

  function forgetToken(message) {
    try { localStorage.removeItem(TOKEN_KEY); } catch (_) { /* ignore */ }
    state.token = null;
    state.me = null;
    if (state.live) state.live.abort();
    state.live = null;
    $('nav').hidden = true;
    $('tools').hidden = true;
    $('live').hidden = true;
    $('view').replaceChildren();
    $('token-panel').hidden = false;
    $('token-error').textContent = message || '';
    $('token-input').value = '';
    $('token-input').focus();
  }

  async function useToken(token) {
    state.token = token;
    // A render the last holder's token started draws nothing when it ends.
    state.renderSeq++;
    state.me = await api('/api/v1/me');
    // The hub's own views are for admins: set at once, so that a new sign-in never shows the
    // last holder's while the networks load.
    for (const li of document.querySelectorAll('#nav [data-role]')) li.hidden = li.dataset.role !== state.me.role;
    if (state.me.role === 'admissions') {
      try { localStorage.setItem(TOKEN_KEY, token); } catch (_) { /* private mode */ }
      // This page only: no views, no network picker, no live feed.
      if (state.live) state.live.abort();
      state.live = null;
      for (const id of ['token-panel', 'nav', 'tools', 'live']) $(id).hidden = true;
      state.admissions = null;
      await renderAdmissions();
      return;
    }
    await refreshNetworks();
    try { localStorage.setItem(TOKEN_KEY, token); } catch (_) { /* private mode */ }
    $('token-panel').hidden = true;
    $('nav').hidden = false;
    $('tools').hidden = false;
    $('live').hidden = false;
    startLive();
    await render(false);
  }

  /** The networks, into the selector; keeps the chosen one (or the saved one, or the first). */
  async function refreshNetworks() {
    state.networks = (await api('/api/v1/networks')).items || [];
    const select = $('network-select');
    select.replaceChildren(...state.networks.map((n) => h('option', { value: n.id }, n.title)));
    let saved = state.networkId;
    if (!saved) try { saved = localStorage.getItem(NETWORK_KEY); } catch (_) { /* ignore */ }
    state.networkId = state.networks.some((n) => n.id === saved)
      ? saved : (state.networks[0] && state.networks[0].id);
    select.value = state.networkId || '';
  }

  // -------------------------------------------------------------------------------------------
  // Routing: #/, #/diagram[/IDEA], #/timeline[?filters], #/measures[/MEASURE[/PROGRAM]],
  // #/programs[/PROGRAM[/packet]], #/register[?filters], #/standards, #/syntheses[/SYNTHESIS],
  // #/mine, #/cycles/CYCLE.

  function route() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [path, query] = raw.split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    return { view: parts[0] || 'overview', args: parts.slice(1), query: new URLSearchParams(query || '') };
  }

  function markNav(view) {
    const section = view === 'cycles' ? 'programs' : view;
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.view === section) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  /** Renders the view the address names. A refresh (after live events) keeps focus and scroll. */
  async function render(refresh) {
    if (!state.token) return;
    if (state.me && state.me.role === 'admissions') { await renderAdmissions(); return; }
    if (state.rendering) {
      // A navigation supersedes the render in flight; a refresh waits for it.
      if (!refresh) { state.renderSeq++; state.renderAgain = 'nav'; } else if (!state.renderAgain) state.renderAgain = 'refresh';
      return;
    }
    state.rendering = true;
    const seq = ++state.renderSeq;
    const r = route();
    markNav(r.view);
    const view = $('view');
    if (!refresh) {
      view.setAttribute('aria-busy', 'true');
      view.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
    }
    let content;
    try {
      if (!state.networkId && r.view !== 'people') {
        content = state.me && state.me.role === 'admin'
          ? h('div', { class: 'card' }, h('h1', { id: 'no-network' }, 'Welcome: start a network'),
            h('p', null, 'The ledger holds no network yet. Charter yours, then state its aim, build its driver diagram, define its measures, enrol its programs and give people access, all from this page.'),
            charterForm())
          : h('div', { class: 'card' }, h('h1', null, 'No network yet'),
            h('p', null, 'The ledger holds no network yet; the hub charters it.'));
      } else content = await (VIEWS[r.view] || viewNotFound)(r);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) { state.rendering = false; return; }
      content = h('div', { class: 'card' }, h('h1', null, 'Could not load this view'),
        h('p', { class: 'error' }, e.message || String(e)));
    }
    if (seq === state.renderSeq) {
      const focusKey = refresh ? keyOf(document.activeElement) : null;
      const scroll = window.scrollY;
      view.replaceChildren(content);
      view.removeAttribute('aria-busy');
      renderBanner(r);
      if (refresh) {
        restoreFocus(focusKey);
        window.scrollTo(0, scroll);
      } else {
        // A new view: focus (and show) what it is about, for keyboard and screen-reader users.
        const target = view.querySelector('[data-focus]');
        if (target) {
          target.focus({ preventScroll: true });
          target.scrollIntoView({ block: 'start' });
        } else {
          window.scrollTo(0, 0);
          $('main').focus({ preventScroll: true });
        }
      }
    }
    state.rendering = false;
    if (state.renderAgain) {
      const nav = state.renderAgain === 'nav';
      state.renderAgain = false;
      render(!nav);
    }
  }

  function keyOf(el) {
    if (!el || !$('view').contains(el)) return null;
    if (el.id) return { id: el.id };
    if (el.getAttribute('href')) return { href: el.getAttribute('href') };
    return null;
  }

  function restoreFocus(key) {
    if (!key) return;
    const el = key.id ? $(key.id)
      : $('view').querySelector(`[href="${CSS.escape(key.href)}"]`);
    if (el) el.focus({ preventScroll: true });
  }

  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(() => {
      const v = route().view;
      // History does not change: a replayed diagram or timeline stays as it is.
      if (state.asOf && REPLAYED.includes(v)) return;
      // A form being filled in waits: applying it reads the new data anyway.
      if ($('view').querySelector('form[data-dirty]')) return;
      render(true);
    }, REFRESH_DEBOUNCE_MS);
  }

  function renderBanner(r) {
    const banner = $('replay-banner');
    $('replay-live').hidden = !state.asOf;
    if (!state.asOf) { banner.hidden = true; return; }
    banner.hidden = false;
    const applies = REPLAYED.includes(r.view);
    banner.replaceChildren(byDay()
      ? `Replay: the driver diagram, the timeline, run charts, PDSA boards and evidence packets show the network's work as it stood at the end of ${fmtDay(state.asOf)}: what had happened by then, including what was recorded later.`
      : `Replay: the driver diagram, the timeline, run charts, PDSA boards and evidence packets show the ledger as it knew it at ${fmtTime(state.asOf)} (${state.asOf}): what had been recorded by then.`,
    applies ? '' : ' This view is live.');
  }

  function viewNotFound() {
    return h('div', { class: 'card' }, h('h1', null, 'No such view'), h('p', null, h('a', { href: '#/' }, 'Back to the overview')));
  }

  function heading(text, sub) {
    return [h('h1', null, text), sub ? h('p', { class: 'muted' }, sub) : null];
  }

  // -------------------------------------------------------------------------------------------
  // Shared reads

  const netPath = () => `/api/v1/networks/${enc(state.networkId)}`;

  function latestSignal(chart) {
    // The most recent signal; among signals ending on the same point, a specific rule (shift,
    // trend, longest run) before one that judges every point (runs, crossings).
    const broad = new Set(['too_few_runs', 'too_many_runs', 'too_few_crossings']);
    let best = null;
    for (const phase of chart.phases || []) {
      for (const sig of (phase.analysis && phase.analysis.signals) || []) {
        if (!sig.points.length) continue;
        const last = Math.max(...sig.points);
        const rank = broad.has(sig.rule) ? 0 : 1;
        if (!best || last > best.last || (last === best.last && rank > best.rank)) best = { sig, last, rank };
      }
    }
    if (!best) return null;
    const { sig } = best;
    const pts = chart.points;
    const at = pts[best.last];
    let dir = 0;
    if (sig.rule === 'trend') {
      const first = pts[sig.points[0]];
      dir = Math.sign((at.plotted ?? 0) - (first.plotted ?? 0));
    } else if (!broad.has(sig.rule) && at && at.median !== null && at.plotted !== null) {
      dir = Math.sign(at.plotted - at.median);
    }
    const improving = dir === 0 ? null : (chart.direction === 'down' ? dir < 0 : dir > 0);
    return { ...sig, period: at ? at.period : '', dir, improving };
  }

  // The latest point that counts: neither excluded nor provisional.
  function latestPoint(chart) {
    for (let i = chart.points.length - 1; i >= 0; i--) {
      const p = chart.points[i];
      if (!p.excluded && !p.provisional && p.plotted !== null && p.plotted !== undefined) return p;
    }
    return null;
  }

  // The newest network point still waiting for programs, if it is newer than the latest complete one.
  function waitingPoint(chart) {
    const last = chart.points[chart.points.length - 1];
    return last && last.provisional ? last : null;
  }

  function reportedText(p) {
    return `${p.programs_reported} of ${p.programs_due} programs reported`;
  }

  const VARIATION = {
    common_cause: ['Common cause variation', 'none'],
    special_cause_improving: ['Special cause · improving', 'good'],
    special_cause_concerning: ['Special cause · concerning', 'bad'],
    special_cause_neither: ['Special cause', 'none'],
  };
  const ASSURANCE = {
    consistently_pass: ['Will consistently meet the target', 'good'],
    consistently_fail: ['Will consistently miss the target', 'bad'],
    hit_and_miss: ['May hit or miss the target', 'none'],
  };
  const CHART_TYPES = { p: 'P chart', p_prime: 'P′ chart (Laney)', u: 'U chart', u_prime: 'U′ chart (Laney)', c: 'C chart', i: 'I chart (XmR)' };
  const RULE_SETS = { health_care_data_guide: 'The Health Care Data Guide (IHI)', making_data_count: 'NHS Making Data Count', shewhart: 'Shewhart (beyond the limits only)' };
  const RULE_SET_IDS = { 'health-care-data-guide': 'health_care_data_guide', 'nhs-making-data-count': 'making_data_count', shewhart: 'shewhart' };

  function controlBadges(chart) {
    const cc = chart.control;
    if (!cc) return [];
    const [vt, vc] = VARIATION[cc.variation] || [label(cc.variation), 'none'];
    const out = [h('span', { class: `sig ${vc}`, title: `${CHART_TYPES[cc.chart] || cc.chart}, ${cc.rule_set.id} v${cc.rule_set.version}` }, vt)];
    if (cc.assurance) {
      const [at, ac] = ASSURANCE[cc.assurance] || [label(cc.assurance), 'none'];
      out.push(' ', h('span', { class: `sig ${ac}` }, at));
    }
    return out;
  }

  function signalBadge(sig) {
    if (!sig) return h('span', { class: 'sig none' }, 'no signal');
    const arrow = sig.dir > 0 ? '▲ ' : sig.dir < 0 ? '▼ ' : '';
    const verdict = sig.improving === null ? '' : sig.improving ? ' · improving' : ' · worse';
    return h('span', { class: `sig ${sig.improving === false ? 'bad' : sig.improving ? 'good' : 'none'}`, title: sig.message },
      `${arrow}${label(sig.rule)} (${sig.rule_set === 'ihi' ? 'IHI' : 'Anhøj'}) ${sig.period}${verdict}`);
  }

  // -------------------------------------------------------------------------------------------
  // Overview

  async function viewOverview() {
    const [net, dd, programs, measures] = await Promise.all([
      api(netPath()), api(`${netPath()}/driver-diagram`), api(`${netPath()}/programs`), api(`${netPath()}/measures`),
    ]);
    const progs = programs.items || [];
    const meas = measures.items || [];
    const boards = await pool(progs, 4, (p) => api(`/api/v1/programs/${enc(p.id)}/pdsa-board`));
    const cycles = boards.reduce((n, b) => n + (b instanceof Error ? 0
      : PHASES.reduce((m, ph) => m + ((b.columns && b.columns[ph]) || []).length, 0)), 0);
    const ideas = dd.nodes.filter((n) => n.kind === 'change_idea' && !n.retired).length;
    const scopes = [{ id: null, title: 'Network-wide' }, ...progs];
    const cells = [];
    for (const m of meas) for (const sc of scopes) cells.push({ m, sc });
    const charts = await pool(cells, 6, ({ m, sc }) =>
      api(`/api/v1/measures/${enc(m.id)}/run-chart`, { program_id: sc.id }));

    const aim = net.aim;
    const card = h('section', { class: 'card', 'aria-labelledby': 'ov-h' },
      h('h1', { id: 'ov-h' }, net.name),
      net.purpose ? h('p', { class: 'muted' }, net.purpose) : null,
      h('h2', null, 'Aim'),
      aim ? [h('p', { class: 'aim' }, aim.statement),
        h('p', { class: 'small muted' }, `What: ${aim.what} · for whom: ${aim.for_whom} · from ${aim.baseline} to ${aim.target} ${aim.unit || ''} by ${aim.by_when}`)]
        : h('p', { class: 'muted' }, 'No aim stated yet.'),
      h('h2', null, 'In the ledger'),
      h('ul', { class: 'counts' },
        count(progs.length, 'programs', '#/programs'),
        count(Object.keys(net.ecosystems || {}).length, 'ecosystems'),
        count(ideas, 'change ideas', '#/diagram'),
        count(cycles, 'PDSA cycles', '#/timeline?kind=cycle,decision'),
        count(meas.length, 'measures', '#/measures')));

    const table = h('table', { class: 'scorecard' },
      h('caption', { class: 'muted small' }, 'The latest complete value of each measure (network-wide: with how many programs reported it), its latest run-chart signal and its control chart\'s variation, network-wide and per program. A network period still waiting for programs is shown as provisional. Each cell opens its run chart.'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Program'),
        meas.map((m) => h('th', { scope: 'col' }, h('a', { href: `#/measures/${enc(m.id)}` }, m.title))))),
      h('tbody', null, scopes.map((sc, si) => h('tr', null,
        h('th', { scope: 'row' }, sc.id ? h('a', { href: `#/programs/${enc(sc.id)}` }, sc.title) : sc.title),
        meas.map((m, mi) => {
          const chart = charts[mi * scopes.length + si];
          if (chart instanceof Error) return h('td', { class: 'muted' }, '–');
          const last = latestPoint(chart);
          const waiting = waitingPoint(chart);
          const href = `#/measures/${enc(m.id)}${sc.id ? `/${enc(sc.id)}` : ''}`;
          return h('td', null, h('a', { href },
            h('span', { class: 'v' }, last ? fmtValue(chart, last.plotted) : 'no data'),
            last ? h('span', { class: 'small muted' }, ` ${last.period}${last.programs_due ? ` · ${reportedText(last)}` : ''}`) : null,
            waiting ? [h('br'), h('span', { class: 'small muted provisional-note' }, `${waiting.period} provisional: ${reportedText(waiting)}`)] : null,
            h('br'), signalBadge(latestSignal(chart)), ' ', controlBadges(chart)));
        })))));
    return h('div', null, card,
      h('section', { class: 'card', 'aria-labelledby': 'sc-h' }, h('h2', { id: 'sc-h' }, 'Scorecard'),
        meas.length ? h('div', { class: 'scroll' }, table) : h('p', { class: 'muted' }, 'No measures defined yet.')));
  }

  function count(n, what, href) {
    const body = [h('span', { class: 'n' }, String(n)), what];
    return h('li', null, href ? h('a', { href }, body) : body);
  }

  // -------------------------------------------------------------------------------------------
  // Driver diagram

  // Column widths (aim, primary, secondary, change ideas), the gap between columns, and how many
  // characters of a title fit on a line of each (bold text is wider).
  const COL_WS = [170, 200, 200, 255];
  const COL_X = [10, 230, 480, 730];
  const COL_CHARS = [19, 23, 23, 33];
  const MAX_LINES = [9, 5, 5, 5];
  const NODE_GAP = 14;
  const LINE_H = 16;

  function wrap(text, chars, max) {
    const words = String(text).split(/\s+/);
    const lines = [];
    let line = '';
    for (const w of words) {
      if (line && (line + ' ' + w).length > chars) { lines.push(line); line = w; } else line = line ? `${line} ${w}` : w;
    }
    if (line) lines.push(line);
    return lines.length > max ? [...lines.slice(0, max - 1), `${lines[max - 1]}…`] : lines;
  }

  function evidenceLine(ev) {
    if (!ev) return [];
    const c = ev.cycles;
    const total = PHASES.reduce((n, p) => n + c[p].count, 0);
    return [`${total} cycle${total === 1 ? '' : 's'} · ${ev.programs.length} program${ev.programs.length === 1 ? '' : 's'}`,
      `adopt ${ev.decisions.adopt} · adapt ${ev.decisions.adapt} · abandon ${ev.decisions.abandon}`];
  }

  /** A change idea's evidence in words: cycles by phase, programs, decisions. */
  function evidenceText(ev) {
    if (!ev) return 'No evidence yet.';
    return `Cycles: ${PHASES.map((p) => `${p} ${ev.cycles[p].count}`).join(', ')}. `
      + `Programs: ${ev.programs.map((p) => p.name).join(', ') || 'none'}. `
      + `Decisions: adopt ${ev.decisions.adopt}, adapt ${ev.decisions.adapt}, abandon ${ev.decisions.abandon}.`;
  }

  function layoutDiagram(dd, showRetired) {
    const nodes = dd.nodes.filter((n) => showRetired || !n.retired);
    const ids = new Set(nodes.map((n) => n.id));
    const links = dd.links.filter((l) => ids.has(l.from) && ids.has(l.to));
    const col = { primary: 1, secondary: 2, change_idea: 3 };
    const columns = [[], [], [], []];
    const aim = { id: 'aim', kind: 'aim', title: dd.aim ? dd.aim.statement : 'No aim stated yet', definition: '' };
    columns[0].push(aim);
    for (const n of nodes) columns[col[n.kind] || 2].push(n);
    // Order each column by the mean place of the nodes it serves (fewer crossings).
    const place = new Map();
    columns[1].forEach((n, i) => place.set(n.id, i));
    for (const c of [2, 3]) {
      const bary = (n) => {
        const served = links.filter((l) => l.from === n.id && place.has(l.to)).map((l) => place.get(l.to));
        return served.length ? served.reduce((a, b) => a + b, 0) / served.length : 1e6;
      };
      columns[c] = columns[c].map((n) => ({ n, b: bary(n) })).sort((a, b) => a.b - b.b).map((x) => x.n);
      columns[c].forEach((n, i) => place.set(n.id, i));
    }
    const boxes = new Map();
    const heights = columns.map((nodesOf, c) => nodesOf.reduce((hgt, n) => {
      const lines = wrap(n.title, COL_CHARS[c], MAX_LINES[c]);
      const extra = n.kind === 'change_idea' ? 2 : 0;
      const bh = 14 + (lines.length + extra) * LINE_H + (n.kind === 'change_idea' ? 4 : 8);
      boxes.set(n.id, { n, lines, h: bh, w: COL_WS[c] });
      return hgt + bh + NODE_GAP;
    }, 0));
    const height = Math.max(...heights) + 40;
    columns.forEach((nodesOf, c) => {
      let y = 40 + (height - 40 - heights[c]) / 2;
      for (const n of nodesOf) {
        const b = boxes.get(n.id);
        b.x = COL_X[c];
        b.y = y;
        y += b.h + NODE_GAP;
      }
    });
    return { columns, boxes, links, height, width: COL_X[3] + COL_WS[3] + 10 };
  }

  function drawDiagram(dd, selected) {
    const L = layoutDiagram(dd, state.diagram.showRetired);
    const svg = s('svg', { width: L.width, height: L.height, viewBox: `0 0 ${L.width} ${L.height}`,
      role: 'group', 'aria-label': 'Driver diagram: the aim, primary drivers, secondary drivers and change ideas, linked by what each serves', id: 'diagram-svg' });
    ['Aim', 'Primary drivers', 'Secondary drivers', 'Change ideas'].forEach((t, c) =>
      svg.append(s('text', { x: COL_X[c], y: 22, 'font-weight': 700, 'font-size': 14, fill: '#1b1f24' }, t)));
    const edges = s('g', { 'aria-hidden': 'true' });
    const edge = (from, to, strength) => {
      const a = L.boxes.get(to);
      const b = L.boxes.get(from);
      if (!a || !b) return;
      const x1 = a.x + a.w; const y1 = a.y + a.h / 2;
      const x2 = b.x; const y2 = b.y + b.h / 2;
      const mx = (x1 + x2) / 2;
      edges.append(s('path', { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, fill: 'none',
        stroke: strength === 'weak' ? '#7a8594' : '#1d4e89', 'stroke-width': strength === 'weak' ? 1.5 : 2.75,
        'stroke-dasharray': strength === 'weak' ? '6 5' : null, class: `link ${strength}` }));
    };
    for (const p of L.columns[1]) edge(p.id, 'aim', 'strong');
    for (const l of L.links) edge(l.from, l.to, l.strength);
    svg.append(edges);
    const fills = { aim: '#1d4e89', primary: '#dbe9fb', secondary: '#e6f4ea', change_idea: '#fff4dc' };
    for (const [id, b] of L.boxes) {
      const n = b.n;
      const dark = n.kind === 'aim';
      const g = s('g', { class: `node ${n.kind}${n.retired ? ' retired' : ''}`, 'data-id': id });
      g.append(s('rect', { x: b.x, y: b.y, width: b.w, height: b.h, rx: 8, fill: n.retired ? '#eceff3' : fills[n.kind],
        stroke: id === selected ? '#b06d00' : '#6b7785', 'stroke-width': id === selected ? 3.5 : 1,
        'stroke-dasharray': n.retired ? '4 3' : null }));
      const t = s('text', { x: b.x + 10, y: b.y + 20, 'font-size': 13, fill: dark ? '#ffffff' : '#1b1f24',
        'font-weight': n.kind === 'change_idea' ? 400 : 600 });
      // Each line ends with a space, so that the text read out (and the link's name) is words.
      b.lines.forEach((ln, i) => t.append(s('tspan', { x: b.x + 10, dy: i === 0 ? 0 : LINE_H }, `${ln} `)));
      if (n.retired) t.append(s('tspan', { x: b.x + 10, dy: LINE_H, 'font-style': 'italic' }, '(retired)'));
      g.append(t);
      if (n.kind === 'change_idea') {
        const ev = evidenceLine(n.evidence);
        const y0 = b.y + 20 + (b.lines.length) * LINE_H + 2;
        const lines = ev.length ? ev : ['no evidence yet'];
        lines.forEach((line, i) => g.append(s('text', { x: b.x + 10, y: y0 + i * LINE_H, 'font-size': 11.5, fill: '#3d4652' },
          i === 0 ? [s('tspan', { 'font-weight': 700, fill: '#4a3500' }, label(n.stage || 'proposed')), ` · ${line} `] : `${line} `)));
      }
      const shown = g.textContent.replace(/\s+/g, ' ').trim();
      g.append(s('title', null, [n.title, n.definition, n.kind === 'change_idea' ? evidenceText(n.evidence) : ''].filter(Boolean).join(' — ')));
      let el = g;
      if (n.kind === 'change_idea') {
        el = s('a', { href: `#/diagram/${enc(id)}`, 'aria-label': `Change idea: ${shown}. ${evidenceText(n.evidence)}` }, g);
      } else if (n.kind === 'primary' || n.kind === 'secondary') {
        el = s('a', { href: `#/timeline?driver_id=${enc(id)}`, 'aria-label': `${label(n.kind)} driver: ${n.title} (its timeline)` }, g);
      }
      svg.append(el);
    }
    return svg;
  }

  function legend() {
    const sample = (strength) => s('svg', { width: 46, height: 12, 'aria-hidden': 'true' },
      s('line', { x1: 2, y1: 6, x2: 44, y2: 6, stroke: strength === 'weak' ? '#7a8594' : '#1d4e89',
        'stroke-width': strength === 'weak' ? 1.5 : 2.75, 'stroke-dasharray': strength === 'weak' ? '6 5' : null }));
    return h('p', { class: 'legend' }, h('span', null, sample('strong'), ' strong link'),
      h('span', null, sample('weak'), ' weak link'),
      h('span', { class: 'muted' }, 'Select a change idea for its evidence and cycles; a driver opens its timeline.'));
  }

  async function viewDiagram(r) {
    const selected = r.args[0] || null;
    let dd;
    try {
      dd = await api(`${netPath()}/driver-diagram`, asOfParam());
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && state.asOf) {
        return h('div', { class: 'card' }, h('h1', null, 'Driver diagram'),
          h('p', null, `The network had not been chartered yet, ${asOfWords()}.`));
      }
      throw e;
    }
    const toggle = h('button', { type: 'button', id: 'toggle-retired', 'aria-pressed': String(state.diagram.showRetired),
      onclick: () => { state.diagram.showRetired = !state.diagram.showRetired; render(true); } }, 'Show retired nodes');
    const parts = [h('section', { class: 'card', 'aria-labelledby': 'dd-h' },
      h('h1', { id: 'dd-h' }, `Driver diagram${state.asOf ? `, ${asOfWords()}` : ''}`),
      h('p', { class: 'muted small' }, `${dd.network_name || ''} · as of log position ${dd.position}`),
      h('div', { class: 'controls' }, toggle), legend(),
      h('div', { class: 'diagram-wrap' }, drawDiagram(dd, selected)))];
    if (state.asOf) parts.push(await diffSince(dd));
    const idea = selected && dd.nodes.find((n) => n.id === selected);
    if (idea) parts.push(await ideaDetail(idea));
    else if (selected) parts.push(h('p', { class: 'card' }, 'That change idea is not on this diagram.'));
    parts.push(outline(dd));
    return h('div', null, parts);
  }

  /** What changed in the diagram from the replayed date to now. */
  async function diffSince(then) {
    let d; let now;
    try {
      [d, now] = await Promise.all([api(`${netPath()}/driver-diagram/diff`, { from: state.asOf }), api(`${netPath()}/driver-diagram`)]);
    } catch (e) {
      return h('section', { class: 'card' }, h('h2', null, 'Changed since then'), h('p', { class: 'error' }, e.message));
    }
    // Links are named by their nodes, as they read now or, for a node gone since, then.
    const names = new Map([...then.nodes, ...now.nodes].map((n) => [n.id, n.title]));
    const link = (l) => `“${names.get(l.from) || 'a node'}” serves “${names.get(l.to) || 'a node'}” (${label(l.strength)})`;
    const list = (title, items, fmt) => (items && items.length
      ? [h('h3', null, `${title} (${items.length})`), h('ul', null, items.map((i) => h('li', null, fmt(i))))] : null);
    const rel = d.relinked || {};
    const body = [
      d.aim ? [h('h3', null, 'Aim'), h('p', null, `Now: ${d.aim.after ? d.aim.after.statement : '(none)'}`)] : null,
      list('Added', d.added, (n) => `${label(n.kind)}: ${n.title}`),
      list('Reworded', d.reworded, (n) => `“${n.old_title}” → “${n.new_title}”`),
      list('Retired', d.retired, (n) => `${label(n.kind)}: ${n.title}`),
      list('Stage changed', d.stage_changed, (n) => `${n.title}: ${label(n.before || 'none')} → ${label(n.after || 'none')}`),
      list('Links added', rel.added, link),
      list('Links removed', rel.removed, link),
    ].filter(Boolean);
    return h('section', { class: 'card', 'aria-labelledby': 'diff-h' }, h('h2', { id: 'diff-h' }, 'Changed since then (to now)'),
      body.length ? body : h('p', { class: 'muted' }, 'Nothing: the diagram is as it was.'));
  }

  /** The diagram as nested lists, for reading without the drawing. */
  function outline(dd) {
    const nodes = dd.nodes.filter((n) => state.diagram.showRetired || !n.retired);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const servers = (id) => dd.links.filter((l) => l.to === id && byId.has(l.from)).map((l) => ({ n: byId.get(l.from), l }));
    const item = (n, l, depth) => h('li', null,
      n.kind === 'change_idea' ? h('a', { href: `#/diagram/${enc(n.id)}` }, n.title) : n.title,
      l ? h('span', { class: 'muted small' }, ` (${l.strength} link)`) : null,
      depth < 3 ? (() => { const kids = servers(n.id); return kids.length ? h('ul', null, kids.map((k) => item(k.n, k.l, depth + 1))) : null; })() : null);
    return h('details', { class: 'card' }, h('summary', null, 'The diagram as a list'),
      h('ul', null, nodes.filter((n) => n.kind === 'primary').map((n) => item(n, null, 1))));
  }

  async function ideaDetail(n) {
    const ev = n.evidence;
    const ids = ev ? PHASES.flatMap((p) => ev.cycles[p].cycle_ids) : [];
    const cycles = await pool(ids, 4, (id) => api(`/api/v1/pdsa-cycles/${enc(id)}`));
    const programName = new Map((ev ? ev.programs : []).map((p) => [p.program_id, p.name]));
    return h('section', { class: 'card detail', 'aria-labelledby': 'idea-h' },
      h('h2', { id: 'idea-h', tabindex: '-1', 'data-focus': true }, `Change idea: ${n.title}`),
      h('p', null, n.definition),
      h('p', null, h('span', { class: 'badge' }, label(n.stage || 'proposed')),
        ' ', h('a', { href: `#/timeline?change_idea_id=${enc(n.id)}` }, 'Its timeline'), ' · ',
        h('a', { href: '#/diagram' }, 'Close')),
      ev ? [
        h('h3', null, 'Cycles by phase'),
        h('ul', { class: 'phase-counts' }, PHASES.map((p) => h('li', null, `${p}: ${ev.cycles[p].count}`))),
        h('h3', null, 'Decisions'),
        h('p', null, h('span', { class: 'dec-adopt' }, `adopt ${ev.decisions.adopt}`), ' · ',
          h('span', { class: 'dec-adapt' }, `adapt ${ev.decisions.adapt}`), ' · ',
          h('span', { class: 'dec-abandon' }, `abandon ${ev.decisions.abandon}`)),
        h('h3', null, `Programs testing it (${ev.programs.length})`),
        h('ul', null, ev.programs.map((p) => h('li', null, h('a', { href: `#/programs/${enc(p.program_id)}` }, p.name)))),
        ev.latest_synthesis ? [h('h3', null, 'Latest synthesis'),
          h('p', null, h('strong', null, ev.latest_synthesis.title)), h('p', null, ev.latest_synthesis.statement),
          h('p', null, 'Recommendation: ', ev.latest_synthesis.recommendation)] : null,
      ] : h('p', { class: 'muted' }, 'No evidence yet.'),
      n.measures && n.measures.length ? [h('h3', null, 'Measures'), h('ul', null, n.measures.map((m) => h('li', null,
        h('a', { href: `#/measures/${enc(m.measure_id)}` }, m.name),
        m.latest_signal ? h('span', { class: 'small muted' }, ` — ${m.latest_signal.message} (${m.latest_signal.period})`) : null)))] : null,
      h('h3', null, `Its cycles (${ids.length})`),
      ids.length ? h('ul', null, cycles.map((c, i) => h('li', null, c instanceof Error
        ? h('a', { href: `#/cycles/${enc(ids[i])}` }, ids[i])
        : [h('a', { href: `#/cycles/${enc(ids[i])}` }, c.planned.title),
          h('span', { class: 'small muted' }, ` — ${programName.get(c.planned.program_id) || ''}, cycle ${c.planned.cycle_number} of its ramp, ${c.phase}${c.act ? `, ${c.act.decision}` : ''}`)])))
        : h('p', { class: 'muted' }, 'None yet.'));
  }

  // -------------------------------------------------------------------------------------------
  // Timeline

  const TL_FILTERS = ['program_id', 'ecosystem_id', 'driver_id', 'change_idea_id', 'kind', 'from', 'until'];

  // "recorded 9 days later", when an entry was recorded more than a day after it happened.
  function recordedLater(e) {
    const days = Math.floor((Date.parse(e.recorded_at) - Date.parse(`${e.happened_on}T00:00:00Z`)) / 86400000);
    if (days <= 1) return null;
    const words = days < 60 ? `${days} days` : days < 730 ? `${Math.round(days / 30.4)} months` : `${Math.round(days / 365.25)} years`;
    return h('span', { class: 'later', title: `recorded ${fmtTime(e.recorded_at)}` }, ` · recorded ${words} later`);
  }

  async function viewTimeline(r) {
    const filters = {};
    for (const k of TL_FILTERS) if (r.query.get(k)) filters[k] = r.query.get(k);
    const key = JSON.stringify([filters, state.asOf, state.networkId]);
    if (state.timeline.key !== key) state.timeline = { key, cursors: [null] };
    const cursors = state.timeline.cursors;
    const after = cursors[cursors.length - 1];
    const [net, dd, programs, page] = await Promise.all([
      api(netPath()),
      api(`${netPath()}/driver-diagram`).catch(() => ({ nodes: [] })),
      api(`${netPath()}/programs`),
      api('/api/v1/timeline', { network_id: state.networkId, ...filters, after, limit: TIMELINE_PAGE, ...asOfParam() }),
    ]);
    const opt = (items, sel, none) => [h('option', { value: '' }, none),
      items.map((i) => h('option', { value: i.id, selected: i.id === sel }, i.title))];
    const ecos = Object.values(net.ecosystems || {}).map((e) => ({ id: e.id, title: e.name }));
    const drivers = dd.nodes.filter((n) => n.kind === 'primary' || n.kind === 'secondary').map((n) => ({ id: n.id, title: `${n.title} (${n.kind})` }));
    const ideas = dd.nodes.filter((n) => n.kind === 'change_idea').map((n) => ({ id: n.id, title: n.title }));
    const kinds = new Set((filters.kind || '').split(',').filter(Boolean));
    const field = (id, text, control) => h('div', null, h('label', { for: id }, text), control);
    const form = h('form', { class: 'filters', id: 'tl-form', 'aria-label': 'Timeline filters' },
      field('tl-program', 'Program', h('select', { id: 'tl-program', name: 'program_id' }, opt(programs.items || [], filters.program_id, 'All programs'))),
      field('tl-eco', 'Ecosystem', h('select', { id: 'tl-eco', name: 'ecosystem_id' }, opt(ecos, filters.ecosystem_id, 'All ecosystems'))),
      field('tl-driver', 'Driver', h('select', { id: 'tl-driver', name: 'driver_id' }, opt(drivers, filters.driver_id, 'All drivers'))),
      field('tl-idea', 'Change idea', h('select', { id: 'tl-idea', name: 'change_idea_id' }, opt(ideas, filters.change_idea_id, 'All change ideas'))),
      field('tl-from', 'Happened from', h('input', { id: 'tl-from', name: 'from', type: 'date', value: filters.from || '' })),
      field('tl-until', 'Happened until', h('input', { id: 'tl-until', name: 'until', type: 'date', value: filters.until || '' })),
      h('fieldset', null, h('legend', null, 'Kinds (none checked: all)'),
        KINDS.map((k) => h('label', null, h('input', { type: 'checkbox', name: 'kind', id: `tl-kind-${k}`, value: k, checked: kinds.has(k) }), label(k)))),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'tl-apply' }, 'Apply filters'),
        h('button', { type: 'button', id: 'tl-clear', onclick: () => { location.hash = '#/timeline'; } }, 'Clear')));
    // Filters being edited are not swept away by a live refresh (see scheduleRefresh).
    const dirty = () => { form.dataset.dirty = 'true'; };
    form.addEventListener('input', dirty);
    form.addEventListener('change', dirty);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      const fd = new FormData(form);
      for (const k of ['program_id', 'ecosystem_id', 'driver_id', 'change_idea_id']) if (fd.get(k)) q.set(k, fd.get(k));
      const ks = fd.getAll('kind');
      if (ks.length) q.set('kind', ks.join(','));
      for (const k of ['from', 'until']) if (fd.get(k)) q.set(k, fd.get(k));
      const s2 = q.toString();
      location.hash = `#/timeline${s2 ? `?${s2}` : ''}`;
    });
    const entries = page.entries || [];
    const list = entries.length ? h('ol', { class: 'entries', start: 1 }, entries.map((e) => h('li', null,
      h('div', { class: 'small muted' }, h('time', { datetime: e.happened_on }, fmtDay(e.happened_on)), recordedLater(e)),
      h('span', null, h('span', { class: 'badge' }, label(e.kind))),
      h('div', null, h('span', null, e.sentence),
        h('span', { class: 'small muted' }, ` — ${e.actor_name || e.actor || ''}`),
        e.cycle_id ? [' ', h('a', { href: `#/cycles/${enc(e.cycle_id)}`, class: 'small' }, 'cycle')] : null,
        e.measure_id ? [' ', h('a', { href: `#/measures/${enc(e.measure_id)}${e.program_id ? `/${enc(e.program_id)}` : ''}`, class: 'small' }, 'run chart')] : null,
        e.program_id ? [' ', h('a', { href: `#/programs/${enc(e.program_id)}`, class: 'small' }, 'program')] : null))))
      : h('p', { class: 'muted' }, 'No entries match.');
    const pager = h('div', { class: 'pager' },
      h('button', { type: 'button', id: 'tl-prev', disabled: cursors.length <= 1,
        onclick: () => { cursors.pop(); render(true); } }, 'Previous page'),
      h('span', { 'aria-live': 'polite' }, `Page ${cursors.length}`),
      h('button', { type: 'button', id: 'tl-next', disabled: page.next_after === null || page.next_after === undefined,
        onclick: () => { cursors.push(page.next_after); render(true); } }, 'Next page'));
    return h('div', null, h('section', { class: 'card', 'aria-labelledby': 'tl-h' },
      h('h1', { id: 'tl-h' }, `Learning timeline${state.asOf ? `, ${asOfWords()}` : ''}`),
      h('p', { class: 'muted small' }, `In the order things happened, oldest first, ${TIMELINE_PAGE} a page; each entry says when it was recorded when that was later · as of log position ${page.position}`), form),
    h('section', { class: 'card', 'aria-label': 'Timeline entries' }, list, pager));
  }

  // -------------------------------------------------------------------------------------------
  // The PDSA register: every cycle of the network, filtered, sorted, paged, and as CSV

  const REG_FILTERS = ['change_idea_id', 'driver_id', 'program_id', 'ecosystem_id', 'phase', 'decision', 'overdue', 'from', 'until', 'sort'];
  const REG_PAGE = 50;
  const REG_SORTS = { newest: 'Newest first', oldest: 'Oldest first', program: 'Program', title: 'Title', phase: 'Phase' };

  async function viewRegister(r) {
    const filters = {};
    for (const k of REG_FILTERS) if (r.query.get(k)) filters[k] = r.query.get(k);
    const offset = Math.max(0, Number(r.query.get('offset')) || 0);
    const path = `${netPath()}/pdsa-register`;
    const [net, dd, programs, reg] = await Promise.all([
      api(netPath()),
      api(`${netPath()}/driver-diagram`).catch(() => ({ nodes: [] })),
      api(`${netPath()}/programs`),
      api(path, { ...filters, offset, limit: REG_PAGE }),
    ]);
    const opt = (items, sel, none) => [h('option', { value: '' }, none),
      items.map((i) => h('option', { value: i.id, selected: i.id === sel }, i.title))];
    const ecos = Object.values(net.ecosystems || {}).map((e) => ({ id: e.id, title: e.name }));
    const drivers = dd.nodes.filter((n) => n.kind === 'primary' || n.kind === 'secondary').map((n) => ({ id: n.id, title: `${n.title} (${n.kind})` }));
    const ideas = dd.nodes.filter((n) => n.kind === 'change_idea').map((n) => ({ id: n.id, title: n.title }));
    const words = (list, sel, none) => opt(list.map((v) => ({ id: v, title: label(v) })), sel, none);
    const field = (id, text, control) => h('div', null, h('label', { for: id }, text), control);
    const form = h('form', { class: 'filters', id: 'rg-form', 'aria-label': 'Register filters' },
      field('rg-idea', 'Change idea', h('select', { id: 'rg-idea', name: 'change_idea_id' }, opt(ideas, filters.change_idea_id, 'All change ideas'))),
      field('rg-driver', 'Driver', h('select', { id: 'rg-driver', name: 'driver_id' }, opt(drivers, filters.driver_id, 'All drivers'))),
      field('rg-program', 'Program', h('select', { id: 'rg-program', name: 'program_id' }, opt(programs.items || [], filters.program_id, 'All programs'))),
      field('rg-eco', 'Ecosystem', h('select', { id: 'rg-eco', name: 'ecosystem_id' }, opt(ecos, filters.ecosystem_id, 'All ecosystems'))),
      field('rg-phase', 'Phase', h('select', { id: 'rg-phase', name: 'phase' }, words(PHASES, filters.phase, 'Any phase'))),
      field('rg-decision', 'Act decision', h('select', { id: 'rg-decision', name: 'decision' }, words(Object.keys(DECISIONS), filters.decision, 'Any decision'))),
      field('rg-from', 'Planned from', h('input', { id: 'rg-from', name: 'from', type: 'date', value: filters.from || '' })),
      field('rg-until', 'Planned until', h('input', { id: 'rg-until', name: 'until', type: 'date', value: filters.until || '' })),
      field('rg-sort', 'Sort', h('select', { id: 'rg-sort', name: 'sort' }, Object.entries(REG_SORTS).map(([v, t]) => h('option', { value: v, selected: (filters.sort || 'newest') === v }, t)))),
      h('div', { class: 'check' }, h('input', { type: 'checkbox', id: 'rg-overdue', name: 'overdue', value: 'true', checked: filters.overdue === 'true' }),
        h('label', { for: 'rg-overdue' }, 'Overdue only')),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'rg-apply' }, 'Apply filters'),
        h('button', { type: 'button', id: 'rg-clear', onclick: () => { location.hash = '#/register'; } }, 'Clear'),
        h('button', { type: 'button', id: 'rg-csv', onclick: () => downloadRegisterCsv(path, filters) }, 'Download CSV'),
        h('span', { id: 'rg-csv-status', class: 'small', 'aria-live': 'polite' })));
    const dirty = () => { form.dataset.dirty = 'true'; };
    form.addEventListener('input', dirty);
    form.addEventListener('change', dirty);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      const fd = new FormData(form);
      for (const k of REG_FILTERS) if (fd.get(k) && !(k === 'sort' && fd.get(k) === 'newest')) q.set(k, fd.get(k));
      const s2 = q.toString();
      location.hash = `#/register${s2 ? `?${s2}` : ''}`;
    });
    const rows = reg.rows || [];
    const table = rows.length ? h('div', { class: 'scroll' }, h('table', { id: 'rg-table' },
      h('caption', { class: 'small muted' }, `${reg.total} cycle${reg.total === 1 ? '' : 's'} match; ${offset + 1} to ${offset + rows.length} shown`),
      h('thead', null, h('tr', null, ['Cycle', 'Program', 'Change ideas', 'Phase', 'Decision', 'Planned'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows.map((row) => {
        const c = row.cycle;
        return h('tr', { 'data-cycle': c.cycle_id },
          h('td', null, h('a', { href: `#/cycles/${enc(c.cycle_id)}` }, c.title), h('div', { class: 'small muted' }, `cycle ${c.cycle_number} of its ramp`)),
          h('td', null, h('a', { href: `#/programs/${enc(row.program.id)}` }, row.program.title), h('div', { class: 'small muted' }, row.ecosystem.title)),
          h('td', null, c.change_ideas.map((i, k) => [k ? ', ' : '', h('a', { href: `#/diagram/${enc(i.id)}` }, i.title)])),
          h('td', null, h('span', { class: 'badge' }, label(c.phase)), row.overdue ? [' ', h('span', { class: 'badge gap' }, 'overdue')] : null),
          h('td', null, c.decision ? (DECISIONS[c.decision] || label(c.decision)) : '—'),
          h('td', null, `${c.planned_start} → ${c.planned_end}`));
      }))))
      : h('p', { class: 'muted' }, 'No cycles match.');
    const go = (to) => {
      const q = new URLSearchParams(filters);
      if (to) q.set('offset', String(to));
      location.hash = `#/register?${q.toString()}`;
    };
    const pager = h('div', { class: 'pager' },
      h('button', { type: 'button', id: 'rg-prev', disabled: offset <= 0, onclick: () => go(Math.max(0, offset - REG_PAGE)) }, 'Previous page'),
      h('span', { 'aria-live': 'polite' }, `Page ${Math.floor(offset / REG_PAGE) + 1} of ${Math.max(1, Math.ceil(reg.total / REG_PAGE))}`),
      h('button', { type: 'button', id: 'rg-next', disabled: offset + REG_PAGE >= reg.total, onclick: () => go(offset + REG_PAGE) }, 'Next page'));
    return h('div', null, h('section', { class: 'card', 'aria-labelledby': 'rg-h' },
      h('h1', { id: 'rg-h' }, 'PDSA register'),
      h('p', { class: 'muted small' }, `Every PDSA cycle of the network · overdue as of ${reg.today} · as of log position ${reg.position}`), form),
    h('section', { class: 'card', 'aria-label': 'Cycles' }, table, pager));
  }

  /** Downloads the register's CSV: fetched with the token in a header, never in a URL. */
  async function downloadRegisterCsv(path, filters) {
    const status = $('rg-csv-status');
    try {
      saveFile(new Blob([await api(path, { ...filters, format: 'csv' })], { type: 'text/csv' }), 'pdsa-register.csv');
      status.textContent = 'pdsa-register.csv downloaded.';
    } catch (e) {
      status.textContent = `The CSV could not be made: ${e.message}`;
    }
  }

  // -------------------------------------------------------------------------------------------
  // For admissions offices: which standards a program meets, and since when, with a code anyone
  // checks against the log. An admissions token sees this page only.

  /** The admissions page, drawn once per sign-in: a navigation meanwhile (the sign-in link's
   * fragment cleared) must not redraw it under the reader's hand. */
  function renderAdmissions() {
    if (!state.admissions) {
      state.admissions = drawAdmissions().catch((e) => { state.admissions = null; throw e; });
    }
    return state.admissions;
  }

  async function drawAdmissions() {
    const view = $('view');
    const statements = await pool(state.me.programs, 2, (id) => api(`/api/v1/programs/${enc(id)}/admissions`));
    const section = (st, i) => {
      if (st instanceof Error) return h('section', { class: 'card' }, h('p', { class: 'error' }, st.message));
      const met = st.standards.filter((x) => x.meets);
      const toward = st.standards.filter((x) => !x.meets);
      const v = st.verification;
      const result = h('p', { id: `ad-result-${i}`, 'aria-live': 'polite' });
      const check = async () => {
        result.textContent = 'Checking…';
        try {
          const res = await fetch(v.check, { cache: 'no-store' });
          const out = await res.json();
          result.className = out.valid ? 'ok' : 'error';
          result.textContent = out.valid ? `Verified. ${out.detail}` : `Not verified. ${out.detail}`;
        } catch (e) { result.className = 'error'; result.textContent = `The check could not be made: ${e.message}`; }
      };
      return h('section', { class: 'card', 'aria-labelledby': `ad-h-${i}` },
        h('h1', { id: `ad-h-${i}` }, st.program_name),
        h('p', { class: 'muted' }, `A program of ${st.network_name}${st.ecosystem ? `, ${st.ecosystem}` : ''}${st.withdrawn ? ' (withdrawn from the network)' : ''}. Its standing on the network's quality standards, from its own self-assessments as recorded in the network's ledger.`),
        h('h2', null, `Standards it meets (${met.length} of ${st.standards.length})`),
        met.length ? h('ul', { class: 'standing' }, met.map((x) => h('li', null, h('strong', null, `${x.code} ${x.title}`),
          ` — ${x.words} (${x.latest_rating} of 4), since ${x.since}`))) : h('p', { class: 'muted' }, 'None yet.'),
        toward.length ? [h('h2', null, 'Standards it is working toward'), h('ul', null, toward.map((x) => h('li', null, `${x.code} ${x.title} — ${x.words}${x.latest_rating ? ` (${x.latest_rating} of 4)` : ''}`)))] : null,
        h('h2', null, 'Verification'),
        v ? [h('p', null, 'Verification code: ', h('code', { id: `ad-code-${i}` }, v.code)),
          h('p', { class: 'small muted' }, `Anyone can check it, with no account, at ${location.origin}${v.check}: it confirms that the self-assessment this statement rests on is in the ledger exactly as it was recorded.`),
          h('button', { type: 'button', id: `ad-check-${i}`, onclick: check }, 'Check this code now'), result]
          : h('p', { class: 'muted' }, 'No self-assessment yet: nothing to verify.'));
    };
    view.replaceChildren(h('div', null, statements.map(section),
      h('p', null, h('button', { type: 'button', id: 'ad-sign-out', onclick: () => forgetToken('') }, 'Sign out'))));
    view.removeAttribute('aria-busy');
    const first = view.querySelector('h1');
    if (first) { first.setAttribute('tabindex', '-1'); first.focus({ preventScroll: true }); }
  }

  // -------------------------------------------------------------------------------------------
  // My work: a facilitator's programs, their cycles by phase, and what needs them now

  /** The month before this one, as a period label (YYYY-MM): the latest complete month. */
  function lastCompleteMonth() {
    const d = new Date();
    d.setUTCDate(1);
    d.setUTCMonth(d.getUTCMonth() - 1);
    return d.toISOString().slice(0, 7);
  }

  async function viewMine() {
    const me = await api('/api/v1/me');
    const all = (await api(`${netPath()}/programs`)).items || [];
    const mine = all.filter((p) => me.programs.includes(p.id));
    const head = h('section', { class: 'card', 'aria-labelledby': 'my-h' },
      h('h1', { id: 'my-h' }, `My work, ${me.name}`),
      h('p', { class: 'muted small' }, me.role === 'facilitator'
        ? `Your programs in this network (${mine.length}), their cycles, and what needs you now.`
        : 'A facilitator\'s token names the programs it works for; this token is an admin\'s or a reader\'s, so every program is yours to read on its own page and in the PDSA register.'));
    if (!mine.length) return h('div', null, head, me.role === 'facilitator' ? h('section', { class: 'card' }, h('p', { class: 'muted' }, 'None of your programs is in this network.')) : null);
    const measures = (await api(`${netPath()}/measures`)).items || [];
    const month = lastCompleteMonth();
    const sections = await pool(mine, 2, async (p) => {
      const [board, overdue, charts] = await Promise.all([
        api(`/api/v1/programs/${enc(p.id)}/pdsa-board`),
        api(`${netPath()}/pdsa-register`, { program_id: p.id, overdue: 'true', limit: 500 }),
        pool(measures, 4, (m) => api(`/api/v1/measures/${enc(m.id)}/run-chart`, { program_id: p.id })),
      ]);
      const needs = [];
      for (const row of overdue.rows) {
        needs.push(h('li', null, h('a', { href: `#/cycles/${enc(row.cycle.cycle_id)}` }, row.cycle.title),
          ` is past its planned end (${row.cycle.planned_end}) and still ${row.cycle.phase === 'planned' ? 'not started' : 'in Do'}.`));
      }
      for (const c of board.columns.studying) {
        needs.push(h('li', null, h('a', { href: `#/cycles/${enc(c.cycle_id)}` }, c.title), ' is done and waits for its Study and Act.'));
      }
      for (const c of charts) {
        if (c instanceof Error || c.period_kind !== 'month') continue;
        const reported = c.points.filter((x) => x.value !== null && x.value !== undefined);
        if (!reported.length) continue;
        if (!reported.some((x) => x.period === month)) {
          needs.push(h('li', null, 'No data yet for ', h('a', { href: `#/measures/${enc(c.measure_id)}/${enc(p.id)}` }, c.measure_name), ` in ${month}.`));
        }
      }
      return h('section', { class: 'card', 'aria-labelledby': `my-${p.id}` },
        h('h2', { id: `my-${p.id}` }, h('a', { href: `#/programs/${enc(p.id)}` }, p.title)),
        h('p', null, PHASES.map((ph, i) => [i ? ' · ' : '', `${board.columns[ph].length} ${label(ph)}`])),
        h('h3', null, 'Needs you now'),
        needs.length ? h('ul', { class: 'needs' }, needs) : h('p', { class: 'muted' }, 'Nothing is waiting for you.'));
    });
    return h('div', null, head, sections.map((x) => (x instanceof Error ? h('p', { class: 'error' }, x.message) : x)));
  }

  // -------------------------------------------------------------------------------------------
  // Syntheses: what the network learned, each with what it cites

  async function viewSyntheses(r) {
    if (r.args[0]) return viewSynthesis(r.args[0]);
    const list = await api(`${netPath()}/syntheses`);
    const items = list.items || [];
    return h('section', { class: 'card', 'aria-labelledby': 'sy-h' },
      h('h1', { id: 'sy-h' }, 'Syntheses'),
      h('p', { class: 'muted small' }, 'What the network has learned across programs: each synthesis states a belief and a recommendation, and cites the cycles, measures and parts of the driver diagram it rests on.'),
      items.length ? h('ul', { id: 'sy-list' }, items.map((it) => h('li', null, h('a', { href: `#/syntheses/${enc(it.id)}` }, it.title))))
        : h('p', { class: 'muted' }, 'No synthesis published yet.'));
  }

  async function viewSynthesis(id) {
    const st = await api(`/api/v1/syntheses/${enc(id)}`);
    const sy = st.synthesis;
    if (!sy) return h('div', { class: 'card' }, h('h1', null, 'No such synthesis'));
    const net = `/api/v1/networks/${enc(sy.network_id)}`;
    const [network, measures, register] = await Promise.all([
      api(net).catch(() => null),
      api(`${net}/measures`).catch(() => ({ items: [] })),
      api(`${net}/pdsa-register`, { limit: 500 }).catch(() => ({ rows: [] })),
    ]);
    const gone = 'no longer on record';
    const cycles = sy.cycle_ids.map((cid) => {
      const row = (register.rows || []).find((x) => x.cycle.cycle_id === cid);
      return h('li', null, h('a', { href: `#/cycles/${enc(cid)}` }, row ? row.cycle.title : `a cycle ${gone}`),
        row ? h('span', { class: 'small muted' }, ` — ${row.program.title}, cycle ${row.cycle.cycle_number}, ${row.cycle.phase}${row.cycle.decision ? `, ${row.cycle.decision}` : ''}`) : null);
    });
    const ms = sy.measure_ids.map((mid) => {
      const m = (measures.items || []).find((x) => x.id === mid);
      return h('li', null, h('a', { href: `#/measures/${enc(mid)}` }, m ? m.title : `a measure ${gone}`));
    });
    const nodes = sy.node_ids.map((nid) => {
      const n = network && network.nodes && network.nodes[nid];
      return h('li', null, h('a', { href: `#/diagram/${enc(nid)}` }, n ? n.title : `a node ${gone}`), n ? h('span', { class: 'small muted' }, ` — ${{ primary: 'primary driver', secondary: 'secondary driver' }[n.kind] || label(n.kind)}`) : null);
    });
    const cited = (title, idName, list2) => h('section', { 'aria-labelledby': idName }, h('h2', { id: idName }, `${title} (${list2.length})`),
      list2.length ? h('ul', null, list2) : h('p', { class: 'muted' }, 'None cited.'));
    return h('section', { class: 'card', 'aria-labelledby': 'sy1-h' },
      h('p', { class: 'small' }, h('a', { href: '#/syntheses' }, 'All syntheses')),
      h('h1', { id: 'sy1-h' }, sy.title),
      h('h2', null, 'What the network now believes'), h('p', { id: 'sy-statement' }, sy.statement),
      h('h2', null, 'What it recommends'), h('p', null, sy.recommendation),
      cited('Cycles it rests on', 'sy-cycles', cycles),
      cited('Measures', 'sy-measures', ms),
      cited('Parts of the driver diagram', 'sy-nodes', nodes));
  }

  // -------------------------------------------------------------------------------------------
  // The standards matrix: every program against every quality standard

  async function viewStandards() {
    const m = await api(`${netPath()}/standards-matrix`);
    const change = (c) => {
      if (c.change === null || c.change === undefined) return h('span', { class: 'small muted' }, 'first assessment');
      if (c.change > 0) return h('span', { class: 'small up' }, `▲ up ${c.change} from ${c.previous_rating}`);
      if (c.change < 0) return h('span', { class: 'small down' }, `▼ down ${-c.change} from ${c.previous_rating}`);
      return h('span', { class: 'small muted' }, `= as before (${c.previous_rating})`);
    };
    const cell = (c) => (c ? h('td', { class: `rating r${c.rating}` },
      h('strong', null, `${c.rating} · ${c.words}`), h('br'), change(c), h('br'),
      h('span', { class: 'small muted' }, `${c.assessed_on}, ${c.age_days} day${c.age_days === 1 ? '' : 's'} ago`))
      : h('td', { class: 'rating none' }, h('span', { class: 'muted' }, 'not assessed')));
    const table = m.standards.length && m.programs.length ? h('div', { class: 'scroll' }, h('table', { id: 'sm-table', class: 'matrix' },
      h('caption', { class: 'small muted' }, `The scale: ${m.scale.map((w, i) => `${i + 1} ${w}`).join(', ')}. Ages are counted to ${m.today}.`),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Program'),
        m.standards.map((st) => h('th', { scope: 'col' }, h('span', { class: 'code' }, st.code), ' ', st.title)))),
      h('tbody', null, m.programs.map((p) => h('tr', null,
        h('th', { scope: 'row' }, h('a', { href: `#/programs/${enc(p.program_id)}` }, p.program_name),
          h('div', { class: 'small muted' }, p.ecosystem), p.withdrawn ? h('span', { class: 'badge gap' }, 'withdrawn') : null),
        p.cells.map(cell))))))
      : h('p', { class: 'muted' }, m.standards.length ? 'No programs enrolled yet.' : 'No quality standards defined yet.');
    return h('section', { class: 'card', 'aria-labelledby': 'sm-h' },
      h('h1', { id: 'sm-h' }, 'Quality standards'),
      h('p', { class: 'muted small' }, `Each program's latest self-rating per standard, its change since the assessment before, and its age · as of log position ${m.position}`),
      h('div', { class: 'actions no-print' }, h('button', { type: 'button', id: 'sm-print', onclick: () => window.print() }, 'Print')),
      table);
  }

  // -------------------------------------------------------------------------------------------
  // Run charts

  async function viewMeasures(r) {
    const [measures, programs] = await Promise.all([api(`${netPath()}/measures`), api(`${netPath()}/programs`)]);
    const meas = measures.items || [];
    const progs = programs.items || [];
    const programName = (id) => (progs.find((p) => p.id === id) || {}).title || 'a program no longer listed';
    if (!meas.length) return h('div', { class: 'card' }, h('h1', null, 'Run charts'), h('p', null, 'No measures defined yet.'));
    const measureId = r.args[0] || meas[0].id;
    const programId = r.args[1] || '';
    const chart = await api(`/api/v1/measures/${enc(measureId)}/run-chart`, { program_id: programId, rules: state.chart.rules, chart: state.chart.type, ...asOfParam() });
    const go = () => {
      state.chart.type = null;
      const m = $('rc-measure').value;
      const p = $('rc-scope').value;
      location.hash = `#/measures/${enc(m)}${p ? `/${enc(p)}` : ''}`;
    };
    const controls = h('div', { class: 'controls' },
      h('div', null, h('label', { for: 'rc-measure' }, 'Measure'),
        h('select', { id: 'rc-measure', onchange: go }, meas.map((m) => h('option', { value: m.id, selected: m.id === measureId }, m.title)))),
      h('div', null, h('label', { for: 'rc-scope' }, 'Series'),
        h('select', { id: 'rc-scope', onchange: go }, h('option', { value: '' }, 'Network-wide'),
          progs.map((p) => h('option', { value: p.id, selected: p.id === programId }, p.title)))),
      h('button', { type: 'button', id: 'rc-csv', onclick: () => downloadCsv(measureId, programId, chart) }, 'Download CSV'));
    // One entry per phase and rule: a rule that fires several times in a phase is listed once.
    const signals = [];
    (chart.phases || []).forEach((ph, pi) => {
      for (const sig of (ph.analysis && ph.analysis.signals) || []) {
        const key = `${pi}-${sig.rule_set}-${sig.rule}`;
        const same = signals.find((x) => x.key === key);
        if (same) {
          same.count += 1;
          same.sig = { ...same.sig, points: [...same.sig.points, ...sig.points] };
        } else signals.push({ sig, key, phase: ph.label, count: 1 });
      }
    });
    const hl = signals.find((x) => x.key === state.chart.highlight);
    const highlight = hl ? new Set(hl.sig.points) : null;
    const cyclesIn = chart.points.flatMap((p) => p.cycles.map((c) => ({ c, period: p.period })));
    // Network-wide: the same measure for every program at once, as small multiples.
    const programCharts = programId ? [] : await pool(progs, 6, (p) =>
      api(`/api/v1/measures/${enc(measureId)}/run-chart`, { program_id: p.id, ...asOfParam() }));
    return h('div', null,
      h('section', { class: 'card', 'aria-labelledby': 'rc-h' },
        h('h1', { id: 'rc-h' }, chart.measure_name, state.asOf ? `, ${asOfWords()}` : ''),
        h('p', { class: 'muted small' }, `${label(chart.kind)} measure · ${chart.scope.kind === 'program' ? chart.program_name : 'network-wide'} · ${chart.period_kind}ly · better when ${chart.direction === 'down' ? 'lower' : 'higher'}${chart.target !== null ? ` · target ${fmtValue(chart, chart.target)}` : ''} · ${chart.aggregation}`),
        controls,
        h('div', { class: 'chart-wrap' }, drawChart(chart, highlight)),
        chartLegend(),
        waitingPoint(chart) ? h('p', { class: 'small provisional-note' }, `${waitingPoint(chart).period} is provisional: ${reportedText(waitingPoint(chart))}. It is drawn hollow and takes no part in the median, the signals or the control limits until every program due has reported or the reporting deadline (${chart.reporting_deadline_days} days after the period ends) has passed.`) : null),
      controlSection(chart),
      h('section', { class: 'card', 'aria-labelledby': 'sig-h' },
        h('h2', { id: 'sig-h' }, `Signals (${signals.length})`),
        h('p', { class: 'muted small' }, 'Select a signal to highlight the points that triggered it.'),
        (chart.phases || []).map((ph) => ph.analysis ? h('p', { class: 'small' },
          `Phase “${ph.label}” from ${ph.from_period}: median ${fmtValue(chart, ph.analysis.median)}${ph.analysis.baseline_frozen ? ` (frozen on the first ${ph.analysis.median_points} points)` : ''}, ${ph.analysis.useful_observations} useful points, ${ph.analysis.runs} runs, longest run ${ph.analysis.longest_run}, ${ph.analysis.crossings} crossings.`) : null),
        signals.length ? h('ul', { class: 'signals' }, signals.map(({ sig, key, phase, count }) => h('li', null,
          h('button', { type: 'button', id: `sig-${key}`, 'aria-pressed': String(state.chart.highlight === key),
            onclick: () => { state.chart.highlight = state.chart.highlight === key ? null : key; render(true); } },
          h('strong', null, `${sig.rule_set === 'ihi' ? 'IHI' : 'Anhøj'} · ${label(sig.rule)}`),
          count > 1 ? ` — ${count} times; the first: ${sig.message}` : ` — ${sig.message}`,
          h('span', { class: 'small muted' }, ` (phase ${phase}; ${sig.points.map((i) => chart.points[i] && chart.points[i].period).join(', ')})`)))))
          : h('p', { class: 'muted' }, 'No signal: the variation looks random so far.')),
      programId ? null : multiples(measureId, progs, programCharts),
      h('section', { class: 'card', 'aria-labelledby': 'cyc-h' },
        h('h2', { id: 'cyc-h' }, `PDSA cycles on this chart (${cyclesIn.length})`),
        cyclesIn.length ? h('ul', null, cyclesIn.map(({ c, period }) => h('li', null, `${period}: `,
          h('a', { href: `#/programs/${enc(c.program_id)}` }, programName(c.program_id)), ', ',
          h('a', { href: `#/cycles/${enc(c.cycle_id)}` }, c.title),
          h('span', { class: 'small muted' }, ` — cycle ${c.cycle_number}, ${c.phase}${c.decision ? `, ${c.decision}` : ''}`))))
          : h('p', { class: 'muted' }, 'None.')),
      h('details', { class: 'card' }, h('summary', null, 'The numbers behind the chart'), h('div', { class: 'scroll' }, dataTable(chart))));
  }

  async function downloadCsv(measureId, programId, chart) {
    const text = await api(`/api/v1/measures/${enc(measureId)}/run-chart`, { program_id: programId, format: 'csv' });
    saveFile(new Blob([text], { type: 'text/csv' }), `${chart.measure_name.replace(/[^\w-]+/g, '-')}.csv`);
  }

  /** Hands `blob` to the browser as a download named `name`. */
  function saveFile(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function dataTable(chart) {
    const cc = chart.control;
    return h('table', null, h('thead', null, h('tr', null, ['Period', 'Numerator', 'Denominator', 'Value', 'Reported', 'Median', 'Phase', 'Signal', 'Centre', 'Lower limit', 'Upper limit', 'Control flags', 'Excluded', 'Cycles'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, chart.points.map((p, i) => {
        const c = cc && cc.points[i];
        return h('tr', null,
          h('td', null, p.period), h('td', null, p.numerator ?? ''), h('td', null, p.denominator ?? ''),
          h('td', null, fmtValue(chart, p.plotted)),
          h('td', null, p.programs_due ? `${reportedText(p)}${p.provisional ? ' (provisional)' : ''}` : ''),
          h('td', null, fmtValue(chart, p.median)), h('td', null, p.phase),
          h('td', null, p.in_signal ? 'yes' : ''),
          h('td', null, c && !c.excluded ? fmtValue(chart, c.centre) : ''), h('td', null, c && !c.excluded ? fmtValue(chart, c.lcl) : ''),
          h('td', null, c && !c.excluded ? fmtValue(chart, c.ucl) : ''), h('td', null, c ? c.flags.map(label).join('; ') : ''),
          h('td', null, p.excluded ? `yes: ${p.exclusion_reasons.join('; ')}` : ''),
          h('td', null, p.cycles.map((c2) => c2.title).join('; ')));
      })));
  }

  // One small run chart per program, on one y scale so that programs compare at a glance.
  function multiples(measureId, progs, charts) {
    const shown = progs.map((p, i) => ({ p, chart: charts[i] }))
      .filter(({ chart }) => !(chart instanceof Error) && chart.points.length);
    const all = shown.flatMap(({ chart }) => chart.points.map((p) => p.plotted)).filter((v) => v !== null && v !== undefined);
    return h('section', { class: 'card', 'aria-labelledby': 'sm-h' },
      h('h2', { id: 'sm-h' }, `Every program (${shown.length})`),
      h('p', { class: 'muted small' }, 'The measure for each program on the same scale, with its median; a larger point is in a shift, trend or long run. Each opens the program\'s chart.'),
      shown.length ? h('div', { class: 'multiples' }, shown.map(({ p, chart }) => h('a', { href: `#/measures/${enc(measureId)}/${enc(p.id)}`, class: 'multiple' },
        h('span', { class: 'multiple-title' }, p.title), drawSmall(chart, Math.min(...all), Math.max(...all)))))
        : h('p', { class: 'muted' }, 'No program has reported this measure yet.'));
  }

  function drawSmall(chart, lo0, hi0) {
    const W = 280; const H = 120; const pts = chart.points;
    let lo = lo0; let hi = hi0;
    if (lo === hi) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.1; lo -= pad; hi += pad;
    const loText = fmtValue(chart, lo0); const hiText = fmtValue(chart, hi0);
    const m = { l: Math.ceil(Math.max(textWidth(loText, 10), textWidth(hiText, 10))) + 10, r: 8, t: 8, b: 20 };
    const { x, gapBefore } = timeAxis(chart, m, W);
    const y = (v) => m.t + ((hi - v) * (H - m.t - m.b)) / (hi - lo);
    const last = latestPoint(chart);
    const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'small-multiple',
      'aria-label': `${chart.program_name}: ${pts.length} periods${last ? `, latest ${fmtValue(chart, last.plotted)} in ${last.period}` : ''}.` });
    svg.append(s('g', { 'aria-hidden': 'true' },
      s('line', { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, stroke: '#6b7785' }),
      s('text', { x: m.l - 4, y: y(hi0) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#4a5563' }, hiText),
      s('text', { x: m.l - 4, y: y(lo0) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#4a5563' }, loText),
      s('text', { x: m.l, y: H - 5, 'font-size': 10, fill: '#4a5563' }, pts[0].period),
      s('text', { x: W - m.r, y: H - 5, 'text-anchor': 'end', 'font-size': 10, fill: '#4a5563' }, pts[pts.length - 1].period)));
    let seg = '';
    pts.forEach((p, i) => {
      if (p.median === null || p.median === undefined) return;
      const prev = pts[i - 1];
      seg += `${prev && prev.median === p.median && prev.phase === p.phase ? 'L' : 'M'}${x(i)},${y(p.median)} `;
    });
    svg.append(s('path', { d: seg, stroke: '#444', 'stroke-width': 1.5, 'stroke-dasharray': '4 3', fill: 'none' }));
    svg.append(s('path', { d: polyline(pts.length, x, y, (i) => (pts[i].excluded ? null : pts[i].plotted), gapBefore), stroke: '#1d4e89', 'stroke-width': 1.5, fill: 'none' }));
    pts.forEach((p, i) => {
      if (p.excluded || p.plotted === null || p.plotted === undefined) return;
      svg.append(s('circle', { cx: x(i), cy: y(p.plotted), r: p.in_signal ? 3 : 1.8, fill: p.in_signal ? '#e07b00' : '#1d4e89' }));
    });
    return svg;
  }

  function controlSection(chart) {
    const cc = chart.control;
    if (!cc) return null;
    const rules = RULE_SET_IDS[cc.rule_set.id] || cc.rule_set.id;
    const redraw = () => {
      state.chart.rules = $('cc-rules').value;
      state.chart.type = $('cc-type').value;
      render(true);
    };
    const flagged = cc.points.filter((p) => p.flags.length).length;
    return h('section', { class: 'card', 'aria-labelledby': 'cc-h' },
      h('h2', { id: 'cc-h' }, `Control chart: ${CHART_TYPES[cc.chart] || cc.chart}`),
      h('p', { class: 'small' }, controlBadges(chart)),
      h('div', { class: 'controls' },
        h('div', null, h('label', { for: 'cc-type' }, 'Chart'),
          h('select', { id: 'cc-type', onchange: redraw }, Object.entries(CHART_TYPES).map(([k, v]) => h('option', { value: k, selected: k === cc.chart }, v)))),
        h('div', null, h('label', { for: 'cc-rules' }, 'Rules'),
          h('select', { id: 'cc-rules', onchange: redraw }, Object.entries(RULE_SETS).map(([k, v]) => h('option', { value: k, selected: k === rules }, v))))),
      h('div', { class: 'chart-wrap' }, drawControl(chart)),
      controlLegend(),
      h('p', { class: 'small muted' }, `Centre line and 3-sigma limits estimated per phase${chart.baseline_points ? ` on its first ${chart.baseline_points} points, then extended` : ''}; excluded and provisional points take no part. ${flagged} of ${cc.points.length} points flagged by ${cc.rule_set.id} v${cc.rule_set.version}.`));
  }

  function controlLegend() {
    const seg = (stroke, dash) => s('svg', { width: 28, height: 10, 'aria-hidden': 'true' }, s('line', { x1: 0, y1: 5, x2: 28, y2: 5, stroke, 'stroke-dasharray': dash || null, 'stroke-width': 2 }));
    const dot = (fill, stroke) => s('svg', { width: 16, height: 16, 'aria-hidden': 'true' }, s('circle', { cx: 8, cy: 8, r: 5, fill, stroke, 'stroke-width': 2 }));
    return h('p', { class: 'legend' },
      h('span', null, dot('#1d4e89', '#1d4e89'), ' point'),
      h('span', null, dot('#e07b00', '#7a3d00'), ' flagged by a rule'),
      h('span', null, seg('#444'), ' centre'),
      h('span', null, seg('#b42318'), ' 3-sigma limits'),
      h('span', null, seg('#b42318', '2 4'), ' 2-sigma lines'));
  }

  function chartLegend() {
    const dot = (fill, stroke, extra) => s('svg', { width: 16, height: 16, 'aria-hidden': 'true' },
      s('circle', { cx: 8, cy: 8, r: 5, fill, stroke, 'stroke-width': 2 }), extra || null);
    return h('p', { class: 'legend' },
      h('span', null, dot('#1d4e89', '#1d4e89'), ' point'),
      h('span', null, dot('#e07b00', '#7a3d00'), ' in a shift, trend or long run'),
      h('span', null, dot('#ffffff', '#1d4e89'), ' provisional (programs still to report)'),
      h('span', null, dot('#ffffff', '#b42318'), ' highlighted signal'),
      h('span', null, s('svg', { width: 16, height: 16, 'aria-hidden': 'true' }, s('path', { d: 'M3,3 L13,13 M13,3 L3,13', stroke: '#6b7785', 'stroke-width': 2 })), ' excluded'),
      h('span', null, s('svg', { width: 28, height: 10, 'aria-hidden': 'true' }, s('line', { x1: 0, y1: 5, x2: 28, y2: 5, stroke: '#444', 'stroke-dasharray': '5 3', 'stroke-width': 2 })), ' median'),
      h('span', null, s('svg', { width: 28, height: 10, 'aria-hidden': 'true' }, s('line', { x1: 0, y1: 5, x2: 28, y2: 5, stroke: '#1a7f37', 'stroke-dasharray': '2 3', 'stroke-width': 2 })), ' target'),
      h('span', null, s('svg', { width: 16, height: 16, 'aria-hidden': 'true' }, s('path', { d: 'M8,2 L14,13 L2,13 Z', fill: '#8a5300' })), ' PDSA cycles in the period'));
  }

  // Days a period spans: a longer step between two points is a period without data, a gap.
  const PERIOD_DAYS = { week: 7, month: 31, term: 122 };
  let measureCtx = null;

  // The width of a text as the page draws it (labels are sized to fit, never clipped).
  function textWidth(text, size) {
    measureCtx = measureCtx || document.createElement('canvas').getContext('2d');
    measureCtx.font = `${size}px ${getComputedStyle(document.body).fontFamily}`;
    return measureCtx.measureText(text).width;
  }

  // Time on the x axis, from m.l to W − m.r; a step longer than a period is a gap (no data).
  function timeAxis(chart, m, W) {
    const times = chart.points.map((p) => Date.parse(p.period_start));
    const t0 = times[0]; const t1 = times[times.length - 1];
    const x = (i) => (t1 === t0 ? (m.l + W - m.r) / 2 : m.l + ((times[i] - t0) * (W - m.l - m.r)) / (t1 - t0));
    const span = (PERIOD_DAYS[chart.period_kind] || 31) * 86400000;
    const gapBefore = (i) => i > 0 && times[i] - times[i - 1] > span * 1.5;
    return { x, gapBefore };
  }

  // A chart's frame: the y scale over `values`, left room for the widest tick label, time on the
  // x axis (a period without data leaves a gap), the grid and the period labels.
  function frame(chart, values, svg, W, H) {
    const pts = chart.points;
    let lo = Math.min(...values); let hi = Math.max(...values);
    if (lo === hi) { lo -= lo === 0 ? 1 : Math.abs(lo) * 0.1; hi += hi === 0 ? 1 : Math.abs(hi) * 0.1; }
    const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
    if (lo < 0 && Math.min(...values) >= 0) lo = 0;
    const ticks = [0, 1, 2, 3, 4, 5].map((k) => lo + ((hi - lo) * k) / 5);
    const tickText = ticks.map((v) => fmtValue(chart, v));
    const m = { l: Math.ceil(Math.max(...tickText.map((t) => textWidth(t, 11)), 40)) + 16, r: 20, t: 20, b: 78 };
    const { x, gapBefore } = timeAxis(chart, m, W);
    const y = (v) => m.t + ((hi - v) * (H - m.t - m.b)) / (hi - lo);
    const grid = s('g', { 'aria-hidden': 'true' });
    ticks.forEach((v, k) => grid.append(s('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), stroke: '#e3e8ef' }),
      s('text', { x: m.l - 8, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#4a5563' }, tickText[k])));
    // Period labels at a regular step that leaves them 34 px apart, and the last period's.
    const room = 34;
    let closest = Infinity;
    for (let i = 1; i < pts.length; i++) closest = Math.min(closest, x(i) - x(i - 1));
    const every = Math.max(1, Math.ceil(room / closest));
    const shown = [];
    pts.forEach((p, i) => {
      if (i % every !== 0 && i !== pts.length - 1) return;
      while (shown.length && x(i) - x(shown[shown.length - 1]) < room) {
        if (i !== pts.length - 1) return;
        shown.pop();
      }
      shown.push(i);
    });
    for (const i of shown) {
      grid.append(s('text', { x: x(i), y: H - m.b + 18, 'text-anchor': 'end', 'font-size': 11, fill: '#4a5563',
        transform: `rotate(-40 ${x(i)} ${H - m.b + 18})`, class: 'period-label' }, pts[i].period));
    }
    grid.append(s('line', { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, stroke: '#6b7785' }));
    svg.append(grid);
    // Phases: a divider halfway before the first point of each later phase.
    (chart.phases || []).forEach((ph, i) => {
      if (i === 0 || !ph.analysis || ph.analysis.start === 0) return;
      const xi = (x(ph.analysis.start) + x(ph.analysis.start - 1)) / 2;
      svg.append(s('line', { x1: xi, x2: xi, y1: m.t, y2: H - m.b, stroke: '#8a5300', 'stroke-dasharray': '3 3' }),
        s('text', { x: xi + 4, y: m.t + 10, 'font-size': 11, fill: '#8a5300' }, ph.label));
    });
    return { x, y, m, gapBefore };
  }

  // A line through the points `at(i)` gives a value for, broken at gaps and where `at` gives none.
  function polyline(n, x, y, at, gapBefore) {
    let d = ''; let pen = 'M';
    for (let i = 0; i < n; i++) {
      const v = at(i);
      if (v === null || v === undefined) { pen = 'M'; continue; }
      if (gapBefore(i)) pen = 'M';
      d += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      pen = 'L';
    }
    return d;
  }

  function pointTip(chart, p, extra) {
    return `${p.period}: ${fmtValue(chart, p.plotted)}${p.provisional ? ` (provisional: ${reportedText(p)})` : p.programs_due ? ` (${reportedText(p)})` : ''}${p.excluded ? ` (excluded: ${p.exclusion_reasons.join('; ')})` : ''}${extra || ''}`;
  }

  function drawChart(chart, highlight) {
    const W = 900; const H = 380;
    const pts = chart.points;
    // Points in a signal that names them (shift, trend, longest run); the runs and crossings
    // rules judge every point of a phase and are listed, not painted.
    const named = new Set();
    for (const ph of chart.phases || []) {
      for (const sig of (ph.analysis && ph.analysis.signals) || []) {
        if (!['too_few_runs', 'too_many_runs', 'too_few_crossings'].includes(sig.rule)) sig.points.forEach((i) => named.add(i));
      }
    }
    const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', id: 'run-chart-svg',
      'aria-label': `Run chart of ${chart.measure_name}: ${pts.length} periods${pts.length ? ` from ${pts[0].period} to ${pts[pts.length - 1].period}` : ''}. The table of numbers below holds every value.` });
    if (!pts.length) {
      svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', fill: '#4a5563' }, 'No data points yet.'));
      return svg;
    }
    const vals = pts.flatMap((p) => [p.plotted, p.median]).concat(chart.target === null ? [] : [chart.target]).filter((v) => v !== null && v !== undefined);
    const { x, y, m, gapBefore } = frame(chart, vals, svg, W, H);
    // Target.
    if (chart.target !== null && chart.target !== undefined) {
      svg.append(s('line', { x1: m.l, x2: W - m.r, y1: y(chart.target), y2: y(chart.target), stroke: '#1a7f37', 'stroke-dasharray': '2 3', 'stroke-width': 2 }),
        s('text', { x: W - m.r, y: y(chart.target) - 5, 'text-anchor': 'end', 'font-size': 11, fill: '#1a7f37' }, `target ${fmtValue(chart, chart.target)}`));
    }
    // Median: one segment per run of points with the same median and phase.
    let seg = '';
    pts.forEach((p, i) => {
      if (p.median === null || p.median === undefined) return;
      const prev = pts[i - 1];
      const cont = prev && prev.median === p.median && prev.phase === p.phase;
      seg += `${cont ? 'L' : 'M'}${x(i) - (cont ? 0 : 6)},${y(p.median)} `;
      const next = pts[i + 1];
      if (!next || next.median !== p.median || next.phase !== p.phase) seg += `L${x(i) + 6},${y(p.median)} `;
    });
    svg.append(s('path', { d: seg, stroke: '#444', 'stroke-width': 2, 'stroke-dasharray': '5 3', fill: 'none', class: 'median' }));
    const lastMedian = [...pts].reverse().find((p) => p.median !== null);
    if (lastMedian) svg.append(s('text', { x: W - m.r, y: y(lastMedian.median) + 14, 'text-anchor': 'end', 'font-size': 11, fill: '#333' }, `median ${fmtValue(chart, lastMedian.median)}`));
    // The series through the points that count, then dashed on to a provisional point.
    const counts = (p) => !p.excluded && !p.provisional && p.plotted !== null;
    svg.append(s('path', { d: polyline(pts.length, x, y, (i) => (counts(pts[i]) ? pts[i].plotted : null), gapBefore), stroke: '#1d4e89', 'stroke-width': 2, fill: 'none' }));
    pts.forEach((p, i) => {
      const prev = pts[i - 1];
      if (p.provisional && p.plotted !== null && prev && counts(prev) && !gapBefore(i)) {
        svg.append(s('path', { d: `M${x(i - 1)},${y(prev.plotted)} L${x(i)},${y(p.plotted)}`, stroke: '#1d4e89', 'stroke-width': 2, 'stroke-dasharray': '4 4', fill: 'none' }));
      }
    });
    // Points, with what each is.
    pts.forEach((p, i) => {
      if (p.plotted === null || p.plotted === undefined) return;
      const tip = pointTip(chart, p, p.in_signal ? ' (in a signal)' : '');
      if (p.excluded) {
        const cx = x(i); const cy = y(p.plotted);
        svg.append(s('g', { class: 'point excluded' }, s('path', { d: `M${cx - 5},${cy - 5} L${cx + 5},${cy + 5} M${cx + 5},${cy - 5} L${cx - 5},${cy + 5}`, stroke: '#6b7785', 'stroke-width': 2.5 }), s('title', null, tip)));
        return;
      }
      if (p.provisional) {
        svg.append(s('circle', { cx: x(i), cy: y(p.plotted), r: 5, fill: '#ffffff', stroke: '#1d4e89', 'stroke-width': 2, class: 'point provisional' }, s('title', null, tip)));
        const above = y(p.plotted) - 12 > m.t + 4;
        svg.append(s('text', { x: Math.min(x(i), W - m.r), y: above ? y(p.plotted) - 12 : y(p.plotted) + 20, 'text-anchor': 'end', 'font-size': 11, fill: '#1d4e89', class: 'provisional-label' },
          `provisional: ${p.programs_reported} of ${p.programs_due} reported`));
        return;
      }
      const hot = highlight && highlight.has(i);
      const sig = named.has(i);
      svg.append(s('circle', { cx: x(i), cy: y(p.plotted), r: hot ? 7 : sig ? 5 : 4,
        fill: hot ? '#ffffff' : sig ? '#e07b00' : '#1d4e89', stroke: hot ? '#b42318' : sig ? '#7a3d00' : '#1d4e89',
        'stroke-width': hot ? 3.5 : 1.5, class: `point${sig ? ' in-signal' : ''}${hot ? ' highlighted' : ''}` }, s('title', null, tip)));
    });
    // Periods where the set of programs due changed: a network sum is then over other programs.
    pts.forEach((p, i) => {
      if (!p.programs_joined && !p.programs_left) return;
      const parts = [p.programs_joined ? `+${p.programs_joined}` : '', p.programs_left ? `−${p.programs_left}` : ''].filter(Boolean);
      const cx = x(i);
      svg.append(s('g', { class: 'program-change' },
        s('line', { x1: cx, x2: cx, y1: m.t, y2: H - m.b, stroke: '#6b7785', 'stroke-dasharray': '1 3' }),
        s('text', { x: cx > W - 90 ? cx - 3 : cx + 3, y: m.t + 22, 'text-anchor': cx > W - 90 ? 'end' : 'start', 'font-size': 10, fill: '#4a5563' }, `${parts.join(' ')} due`),
        s('title', null, `${p.period}: ${p.programs_joined || 0} program(s) began reporting, ${p.programs_left || 0} withdrew. ${chart.scale === 'value' ? 'The network sum is over a different set of programs from here: a change in it may be the new set, not a change in any program.' : 'The pooled share mixes a different set of programs from here.'}`)));
    });
    // PDSA cycles at their periods.
    pts.forEach((p, i) => {
      if (!p.cycles || !p.cycles.length) return;
      const cx = x(i); const cy = H - m.b - 4;
      svg.append(s('g', { class: 'cycle-mark' },
        s('path', { d: `M${cx},${cy - 11} L${cx + 6},${cy} L${cx - 6},${cy} Z`, fill: '#8a5300' }),
        p.cycles.length > 1 ? s('text', { x: cx + 8, y: cy - 2, 'font-size': 10, fill: '#8a5300' }, String(p.cycles.length)) : null,
        s('title', null, `${p.period}: ${p.cycles.map((c) => `${c.title} (cycle ${c.cycle_number}, ${c.phase}${c.decision ? `, ${c.decision}` : ''})`).join('; ')}`)));
    });
    return svg;
  }

  // The control chart: centre line, 3-sigma limits and 2-sigma lines as steps (they move with
  // the subgroup size on P and U charts), the points the rules flag.
  function drawControl(chart) {
    const W = 900; const H = 340;
    const cc = chart.control;
    const pts = chart.points;
    const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', id: 'control-chart-svg',
      'aria-label': `${CHART_TYPES[cc.chart] || cc.chart} of ${chart.measure_name}, ${pts.length} periods, judged by ${cc.rule_set.id}. The table of numbers below holds every limit and flag.` });
    // Lines only where the phase has a centre (a phase whose every point is excluded has none),
    // and not at a provisional point: its limits would be those of the few programs reported.
    const live = cc.points.map((c, i) => {
      const ph = cc.phases.find((f) => i >= f.start && i < f.end);
      return !pts[i].provisional && !!(ph && ph.centre !== null && ph.centre !== undefined);
    });
    const vals = cc.points.flatMap((c, i) => (live[i] ? [c.lcl, c.ucl, c.centre] : []).concat(c.statistic !== null && c.statistic !== undefined ? [c.statistic] : []));
    if (!vals.length) {
      svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', fill: '#4a5563' }, 'No point to chart yet.'));
      return svg;
    }
    const { x, y, m, gapBefore } = frame(chart, vals, svg, W, H);
    const phaseStart = (i) => cc.phases.some((f) => f.start === i);
    const half = (i) => {
      const l = i > 0 && !gapBefore(i) ? (x(i) - x(i - 1)) / 2 : 8;
      const r = i < pts.length - 1 && !gapBefore(i + 1) ? (x(i + 1) - x(i)) / 2 : 8;
      return [Math.min(l, 40), Math.min(r, 40)];
    };
    const steps = (value) => {
      let d = '';
      cc.points.forEach((c, i) => {
        if (!live[i]) return;
        const [l, r] = half(i);
        const join = i > 0 && live[i - 1] && !gapBefore(i) && !phaseStart(i);
        d += `${join ? 'L' : 'M'}${(x(i) - l).toFixed(1)},${y(value(c)).toFixed(1)} L${(x(i) + r).toFixed(1)},${y(value(c)).toFixed(1)} `;
      });
      return d;
    };
    svg.append(s('path', { d: steps((c) => c.upper_2_sigma), stroke: '#b42318', 'stroke-opacity': 0.5, 'stroke-dasharray': '2 4', 'stroke-width': 1.5, fill: 'none' }),
      s('path', { d: steps((c) => c.lower_2_sigma), stroke: '#b42318', 'stroke-opacity': 0.5, 'stroke-dasharray': '2 4', 'stroke-width': 1.5, fill: 'none' }),
      s('path', { d: steps((c) => c.ucl), stroke: '#b42318', 'stroke-width': 2, fill: 'none', class: 'ucl' }),
      s('path', { d: steps((c) => c.lcl), stroke: '#b42318', 'stroke-width': 2, fill: 'none', class: 'lcl' }),
      s('path', { d: steps((c) => c.centre), stroke: '#444', 'stroke-width': 2, fill: 'none', class: 'centre' }));
    // Labels of the last phase's lines, at the right, kept apart.
    const lastLive = live.lastIndexOf(true);
    if (lastLive >= 0) {
      const c = cc.points[lastLive];
      const lines = [[c.ucl, 'UCL'], [c.centre, 'centre'], [c.lcl, 'LCL']].map(([v, n]) => ({ v, text: `${n} ${fmtValue(chart, v)}`, at: y(v) }));
      for (let k = 1; k < lines.length; k++) lines[k].at = Math.max(lines[k].at, lines[k - 1].at + 13);
      lines.forEach((l) => svg.append(s('text', { x: W - m.r, y: Math.min(l.at - 4, H - m.b - 4), 'text-anchor': 'end', 'font-size': 11, fill: '#333', class: 'limit-label' }, l.text)));
    }
    const stat = (i) => {
      const c = cc.points[i];
      return c.excluded || pts[i].provisional ? null : c.statistic;
    };
    svg.append(s('path', { d: polyline(pts.length, x, y, stat, gapBefore), stroke: '#1d4e89', 'stroke-width': 2, fill: 'none' }));
    cc.points.forEach((c, i) => {
      const p = pts[i];
      if (c.statistic === null || c.statistic === undefined) return;
      const cx = x(i); const cy = y(c.statistic);
      const tip = pointTip(chart, p, live[i] ? ` · centre ${fmtValue(chart, c.centre)}, limits ${fmtValue(chart, c.lcl)} to ${fmtValue(chart, c.ucl)}${c.flags.length ? ` · flagged: ${c.flags.map(label).join(', ')}` : ''}` : '');
      if (c.excluded && !p.provisional) {
        svg.append(s('g', { class: 'cpoint excluded' }, s('path', { d: `M${cx - 5},${cy - 5} L${cx + 5},${cy + 5} M${cx + 5},${cy - 5} L${cx - 5},${cy + 5}`, stroke: '#6b7785', 'stroke-width': 2.5 }), s('title', null, tip)));
        return;
      }
      const flagged = c.flags.length > 0;
      svg.append(s('circle', { cx, cy, r: flagged ? 5 : 4, fill: p.provisional ? '#ffffff' : flagged ? '#e07b00' : '#1d4e89',
        stroke: flagged ? '#7a3d00' : '#1d4e89', 'stroke-width': p.provisional ? 2 : 1.5,
        class: `cpoint${flagged ? ' flagged' : ''}${p.provisional ? ' provisional' : ''}` }, s('title', null, tip)));
    });
    return svg;
  }

  // -------------------------------------------------------------------------------------------
  // Programs: PDSA board and portfolio

  async function viewPrograms(r) {
    if (r.args[0] && r.args[1] === 'packet') return viewPacket(r.args[0]);
    const programs = (await api(`${netPath()}/programs`)).items || [];
    if (!r.args[0]) {
      const boards = await pool(programs, 4, (p) => api(`/api/v1/programs/${enc(p.id)}/pdsa-board`, asOfParam()));
      return h('section', { class: 'card', 'aria-labelledby': 'pr-h' }, h('h1', { id: 'pr-h' }, 'Programs'),
        h('table', null, h('thead', null, h('tr', null, ['Program', ...PHASES, 'Ramps', 'Cycles with gaps'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', null, programs.map((p, i) => {
            const b = boards[i];
            const ok = !(b instanceof Error);
            return h('tr', null, h('th', { scope: 'row' }, h('a', { href: `#/programs/${enc(p.id)}` }, p.title)),
              PHASES.map((ph) => h('td', null, ok ? String(b.columns[ph].length) : '–')),
              h('td', null, ok ? String(b.ramps.length) : '–'),
              h('td', null, ok && b.cycles_with_gaps ? h('span', { class: 'badge gap' }, `⚠ ${b.cycles_with_gaps}`) : '0'));
          }))));
    }
    const pid = r.args[0];
    const [board, portfolio] = await Promise.all([
      api(`/api/v1/programs/${enc(pid)}/pdsa-board`, asOfParam()), api(`/api/v1/programs/${enc(pid)}/portfolio`, asOfParam())]);
    const switcher = h('div', { class: 'controls' }, h('div', null, h('label', { for: 'pr-select' }, 'Program'),
      h('select', { id: 'pr-select', onchange: (e) => { location.hash = `#/programs/${enc(e.target.value)}`; } },
        programs.map((p) => h('option', { value: p.id, selected: p.id === pid }, p.title)))));
    return h('div', null,
      h('section', { class: 'card', 'aria-labelledby': 'pb-h' },
        h('h1', { id: 'pb-h' }, board.program_name, state.asOf ? `, ${asOfWords()}` : ''),
        h('p', { class: 'muted small' }, `PDSA board · as of log position ${board.position} · `,
          board.cycles_with_gaps ? h('span', { class: 'badge gap' }, `⚠ ${board.cycles_with_gaps} cycle${board.cycles_with_gaps === 1 ? '' : 's'} with gaps`) : 'no cycle has gaps',
          ' · ', h('a', { href: `#/timeline?program_id=${enc(pid)}` }, 'its timeline'),
          ' · ', h('a', { href: `#/programs/${enc(pid)}/packet`, id: 'pb-packet' }, 'its evidence packet')),
        switcher,
        h('h2', null, 'Cycles by phase'),
        h('div', { class: 'board' }, PHASES.map((ph) => h('section', { 'aria-label': `${ph}: ${board.columns[ph].length}` },
          h('h3', null, `${ph} (${board.columns[ph].length})`),
          board.columns[ph].map(cycleCard)))),
        h('h2', null, `Ramps (${board.ramps.length})`),
        board.ramps.length ? h('ul', null, board.ramps.map((rp) => h('li', null,
          h('strong', null, rp.change_ideas.map((c) => c.title).join(', ') || 'No change idea'),
          h('ol', { class: 'ramp' }, rp.cycles.map((c) => h('li', null,
            h('a', { href: `#/cycles/${enc(c.cycle_id)}`, title: c.title }, `#${c.cycle_number} `,
              c.decision ? h('span', { class: `dec-${c.decision}` }, c.decision) : c.phase,
              c.gaps.length ? ' ⚠' : '')))))))
          : h('p', { class: 'muted' }, 'No ramps yet.')),
      state.asOf ? h('p', { class: 'card muted', id: 'pb-replaying' }, 'The forms for recording come back with the live view (Back to live).') : [
        await planForm(pid),
        await dataEntry(pid)],
      portfolioSection(portfolio, pid),
      state.asOf ? null : [await selfAssessForm(pid, board), await proposeForm(pid)]);
  }

  const PURPOSES = { test: 'Test a change', develop: 'Develop a change', implement: 'Implement a change', collect_information: 'Collect information' };

  function emptyPlan(pid) {
    return { program: pid, title: '', purpose: 'test', scale: '', planned_start: '', planned_end: '', objective: '', who: '',
      ideas: [], measures: [], questions: [{ question: '', prediction: '', reason: '' }, { question: '', prediction: '', reason: '' }],
      previous: null, key: null, errors: {}, result: null };
  }

  // The next cycle of an acted cycle's ramp, pre-filled from it: the same change ideas, measures,
  // purpose and questions, its Act's "next cycle" as the objective; the dates and the predictions
  // are the new cycle's own.
  function nextPlan(c) {
    const p = c.planned;
    const f = emptyPlan(p.program_id);
    Object.assign(f, {
      title: p.title, purpose: p.purpose, scale: p.scale, who: p.plan.who_what_when_where || '',
      objective: (c.act && c.act.next_cycle) || p.plan.objective,
      ideas: [...p.change_idea_ids], measures: [...(p.plan.measure_ids || [])],
      questions: (p.plan.questions || []).map((q) => ({ question: q.question, prediction: '', reason: '' })),
      previous: { id: c.id, title: p.title, number: p.cycle_number },
    });
    if (!f.questions.length) f.questions = emptyPlan(p.program_id).questions;
    return f;
  }

  // Planning a PDSA cycle for this program, as IHI's worksheet reads: the change ideas and the
  // measures picked by name, questions each with a prediction and its reason.
  async function planForm(pid) {
    if (!state.plan || state.plan.program !== pid) state.plan = emptyPlan(pid);
    const f = state.plan;
    const [dd, measuresList] = await Promise.all([api(`${netPath()}/driver-diagram`), api(`${netPath()}/measures`)]);
    const ideas = dd.nodes.filter((n) => n.kind === 'change_idea' && !n.retired && !['declined', 'abandoned'].includes(n.stage));
    const measures = measuresList.items || [];
    const input = (path, labelText, get, set, kind, options) =>
      formField('pc', path, labelText, f.errors[fieldKey(path)], get, set, kind, options);
    const text = (key, path, labelText, kind, options) => input(path, labelText, () => f[key], (v) => { f[key] = v; }, kind, options);
    const picks = (path, legend, items, chosen) => h('fieldset', { id: `pc-${fieldKey(path)}`, 'aria-describedby': `pc-err-${fieldKey(path)}` },
      h('legend', null, legend),
      items.length ? items.map((it) => h('label', { class: 'pick' },
        h('input', { type: 'checkbox', value: it.id, checked: chosen.includes(it.id), onchange: (ev) => {
          const at = chosen.indexOf(it.id);
          if (ev.target.checked && at < 0) chosen.push(it.id);
          if (!ev.target.checked && at >= 0) chosen.splice(at, 1);
        } }), ` ${it.title}`)) : h('p', { class: 'muted small' }, 'None yet.'),
      h('span', { id: `pc-err-${fieldKey(path)}`, class: 'field-error' }, f.errors[fieldKey(path)] || ''));
    const submit = async (ev) => {
      ev.preventDefault();
      const body = { title: f.title.trim(), change_idea_ids: f.ideas, purpose: f.purpose, scale: f.scale.trim(),
        planned_start: f.planned_start, planned_end: f.planned_end,
        ...(f.previous ? { previous_cycle_id: f.previous.id } : {}),
        ...(f.origin ? { adapted_from_cycle_id: f.origin.id } : {}),
        plan: { objective: f.objective.trim(), who_what_when_where: f.who.trim(), measure_ids: f.measures,
          questions: f.questions.filter((q) => q.question.trim() || q.prediction.trim())
            .map((q) => ({ question: q.question.trim(), prediction: q.prediction.trim(), reason: q.reason.trim() })) } };
      const answer = await sendForm(f, 'pc', `/api/v1/programs/${enc(pid)}/pdsa-cycles`, body);
      if (answer) {
        state.plan = emptyPlan(pid);
        state.plan.result = { ok: true, text: `Planned “${body.title}”.`, id: answer.id };
      }
      render(true);
    };
    return h('section', { class: 'card', 'aria-labelledby': 'pc-h' },
      // The next cycle of a ramp is what the person came for: the view opens on it.
      h('h2', f.previous || f.origin ? { id: 'pc-h', tabindex: '-1', 'data-focus': true } : { id: 'pc-h' },
        f.previous ? `Plan cycle ${f.previous.number + 1} of the ramp` : f.origin ? 'Plan a cycle adapted from another program\'s' : 'Plan a PDSA cycle'),
      f.previous || f.origin ? h('p', { id: 'pc-previous' }, f.previous ? 'Builds on ' : 'Adapted from ',
        f.previous ? h('a', { href: `#/cycles/${enc(f.previous.id)}` }, `cycle ${f.previous.number}: ${f.previous.title}`)
          : h('a', { href: `#/cycles/${enc(f.origin.id)}` }, f.origin.title),
        ', pre-filled from it. ', h('button', { type: 'button', id: 'pc-afresh', onclick: () => { state.plan = emptyPlan(pid); render(true); } }, 'Start afresh instead'))
        : h('p', { class: 'muted small' }, 'The Plan of IHI\'s PDSA worksheet, for this program: what the cycle tests, the questions it will answer and what you predict.'),
      h('form', { id: 'pc-form', class: 'entry', onsubmit: submit, novalidate: true },
        text('title', 'title', 'Title'),
        text('purpose', 'purpose', 'Purpose', 'select', PURPOSES),
        text('scale', 'scale', 'Scale (who and how many, e.g. one mentor, two students)'),
        h('div', { class: 'row' }, text('planned_start', 'planned_start', 'Planned start', 'date'), text('planned_end', 'planned_end', 'Planned end', 'date')),
        picks('change_idea_ids', 'Change ideas it tests', ideas, f.ideas),
        text('objective', 'plan.objective', 'Objective', 'textarea'),
        h('fieldset', null, h('legend', null, 'Questions and predictions'),
          f.questions.map((q, i) => h('div', { class: 'question' },
            input(`plan.questions[${i}].question`, `Question ${i + 1}`, () => q.question, (v) => { q.question = v; }),
            input(`plan.questions[${i}].prediction`, `Prediction ${i + 1}`, () => q.prediction, (v) => { q.prediction = v; }),
            input(`plan.questions[${i}].reason`, `Why you expect it (optional)`, () => q.reason, (v) => { q.reason = v; }))),
          h('button', { type: 'button', id: 'pc-add-question', onclick: () => { f.questions.push({ question: '', prediction: '', reason: '' }); render(true); } }, 'Add a question')),
        picks('plan.measure_ids', 'Measures it will watch', measures, f.measures),
        text('who', 'plan.who_what_when_where', 'Who does what, when and where (optional)', 'textarea'),
        h('button', { type: 'submit', id: 'pc-submit' }, 'Plan the cycle'),
        formOutcome('pc', f, f.result && f.result.id ? h('a', { href: `#/cycles/${enc(f.result.id)}` }, 'Open the cycle') : null)));
  }

  // Forms: each control is `${prefix}-${key}` and its refusal `${prefix}-err-${key}`, the key
  // being the problem+json error path made an id (`plan.questions[1].prediction` →
  // `plan-questions-1-prediction`).
  const fieldKey = (path) => path.replace(/[^A-Za-z0-9_]+/g, '-').replace(/-$/, '');

  // A labelled control with its refusal beside it; `kind` is 'select' (with `options`),
  // 'textarea' or an input type.
  function formField(prefix, path, labelText, error, get, set, kind, options, props) {
    const id = `${prefix}-${fieldKey(path)}`;
    const common = { id, 'aria-invalid': error ? 'true' : 'false', 'aria-describedby': `${prefix}-err-${fieldKey(path)}`, ...props };
    // A form being filled in is not swept away by a live refresh (scheduleRefresh); its write
    // says which version it was filled in against (If-Match), and is told if that changed.
    const put = (ev) => {
      set(ev.target.value);
      if (ev.target.form) ev.target.form.dataset.dirty = 'true';
    };
    let control;
    if (kind === 'select') {
      control = h('select', { ...common, onchange: put },
        Object.entries(options).map(([k, t]) => h('option', { value: k, selected: k === get() }, t)));
    } else if (kind === 'textarea') {
      control = h('textarea', { rows: 2, ...common, oninput: put }, get());
    } else {
      control = h('input', { ...common, type: kind || 'text', value: get(), oninput: put });
    }
    return h('div', { class: 'field' }, h('label', { for: id }, labelText), control,
      h('span', { id: `${prefix}-err-${fieldKey(path)}`, class: 'field-error' }, error || ''));
  }

  // Sends a form's command once (its idempotency key kept until it succeeds, so a double submit
  // writes once); on refusal each error goes beside its field, the rest below the form. The
  // answer, or null when refused.
  async function sendForm(f, prefix, path, body, ifMatch, occurredOn) {
    f.key = f.key || crypto.randomUUID();
    const { ok, status, answer } = await apiPost(path, body, f.key, ifMatch, occurredOn);
    f.errors = {};
    if (ok) {
      f.key = null;
      return answer || {};
    }
    if (status === 409 && answer && answer.type === '/problems/version-conflict') {
      // Someone else wrote first: nothing was written; the page shows the newer version.
      f.key = null;
      state.notice = 'Someone else changed this record after you opened it, so nothing was written. The page now shows the newer version; what you typed is kept where it still applies. Check it, then send again.';
      f.result = { ok: false, text: 'Not written: the record had changed.' };
      return null;
    }
    for (const e of (answer && answer.errors) || []) {
      const key = fieldKey(String(e.field || ''));
      f.errors[document.getElementById(`${prefix}-${key}`) ? key : 'form'] = e.message || 'invalid';
    }
    f.result = { ok: false, text: (answer && (answer.detail || answer.title)) || 'Refused.' };
    return null;
  }

  // A form's result line and its error that belongs to no field.
  function formOutcome(prefix, f, link) {
    return [h('p', { id: `${prefix}-result`, role: 'status', class: f.result ? (f.result.ok ? 'ok' : 'error') : '' },
      f.result ? f.result.text : '', f.result && f.result.ok && link ? [' ', link] : null),
    f.errors.form ? h('p', { class: 'field-error' }, f.errors.form) : null];
  }

  const PERIOD_SHAPES = { month: 'YYYY-MM, e.g. 2025-03', week: 'YYYY-Www, e.g. 2025-W09', term: 'YYYY-T1 to YYYY-T3' };
  const GRID_PERIODS = 6;

  /** The `n` periods of `kind` up to the current one, oldest first, as labels. */
  function recentPeriods(kind, n) {
    const now = new Date();
    const out = [];
    for (let k = n - 1; k >= 0; k--) {
      if (kind === 'week') {
        const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - 7 * k));
        const day = d.getUTCDay() || 7;
        d.setUTCDate(d.getUTCDate() + 4 - day); // the Thursday of its ISO week names the year
        const jan1 = new Date(Date.UTC(d.getUTCFullYear(), 0, 1));
        const week = Math.ceil(((d - jan1) / 86400000 + 1) / 7);
        out.push(`${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`);
      } else if (kind === 'term') {
        const t = now.getUTCFullYear() * 3 + (now.getUTCMonth() < 4 ? 0 : now.getUTCMonth() < 8 ? 1 : 2) - k;
        out.push(`${Math.floor(t / 3)}-T${(t % 3) + 1}`);
      } else {
        const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - k, 1));
        out.push(d.toISOString().slice(0, 7));
      }
    }
    return out;
  }

  const GRID_COLUMNS = { ratio: ['numerator', 'denominator', 'note'], value: ['value', 'note'] };

  /** Text pasted from a spreadsheet (tab-separated) or a CSV file's lines, as rows of cells. */
  function cells(text) {
    const lines = String(text).replace(/\r\n?/g, '\n').split('\n');
    while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
    return lines.map((l) => (l.includes('\t') ? l.split('\t') : l.split(',')).map((c) => c.trim().replace(/^"(.*)"$/, '$1')));
  }

  const PERIOD_LABEL = /^\d{4}-(\d{2}|W\d{2}|T[1-3])$/;

  // Data entry for this program: a grid of periods for the measure picked by name, its
  // operational definition beside it. A block of cells pasted from a spreadsheet fills the grid
  // from the cell it lands in (a first column of periods puts each row in its period); a CSV file
  // fills it the same way; each filled row is recorded as one data point, and a refused row keeps
  // what was typed, its error beside the cell.
  async function dataEntry(pid) {
    const measures = (await api(`${netPath()}/measures`)).items || [];
    if (!measures.length) return h('section', { class: 'card' }, h('h2', null, 'Record data'), h('p', { class: 'muted' }, 'The network defines no measure yet.'));
    if (!state.grid || state.grid.program !== pid || !measures.some((m) => m.id === state.grid.measure)) {
      state.grid = { program: pid, measure: measures[0].id, rows: null, result: null };
      delete state.forms.fx;
    }
    const g = state.grid;
    const [def, chart] = await Promise.all([
      api(`/api/v1/measures/${enc(g.measure)}`).then((m) => m.definition),
      api(`/api/v1/measures/${enc(g.measure)}/run-chart`, { program_id: pid }).catch(() => ({ points: [] }))]);
    const ratio = def.scale === 'ratio';
    const columns = GRID_COLUMNS[ratio ? 'ratio' : 'value'];
    const recorded = new Map(chart.points.filter((p) => p.value !== null || p.numerator !== null).map((p) => [p.period, p]));
    const blank = (period) => ({ period, numerator: '', denominator: '', value: '', note: '', key: null, errors: {}, status: '' });
    if (!g.rows) g.rows = recentPeriods(def.period, GRID_PERIODS).map(blank);
    const filled = (row) => columns.some((c) => c !== 'note' && String(row[c]).trim() !== '');
    const rowAt = (period) => {
      let row = g.rows.find((x) => x.period === period);
      if (!row) { row = blank(period); g.rows.push(row); g.rows.sort((a, b) => (a.period < b.period ? -1 : 1)); }
      return row;
    };
    // Cells into the grid from row `at`, column `col`; a first cell that is a period places its row.
    const fill = (block, at, col) => {
      let i = at;
      for (const line of block) {
        if (line.length && PERIOD_LABEL.test(line[0])) {
          const row = rowAt(line[0]);
          line.slice(1).forEach((c, j) => { if (columns[j]) row[columns[j]] = c; });
        } else {
          while (g.rows.length <= i) g.rows.push(blank(''));
          line.forEach((c, j) => { if (columns[col + j]) g.rows[i][columns[col + j]] = c; });
          i++;
        }
      }
      g.result = null;
    };
    const onpaste = (i, c) => (ev) => {
      const text = ev.clipboardData && ev.clipboardData.getData('text/plain');
      if (!text || (!text.includes('\t') && !text.includes('\n'))) return; // one cell: the browser pastes it
      ev.preventDefault();
      fill(cells(text), i, columns.indexOf(c));
      render(true);
    };
    const onfile = async (ev) => {
      const file = ev.target.files && ev.target.files[0];
      if (!file) return;
      const rows = cells(await file.text());
      const head = (rows.shift() || []).map((x) => x.toLowerCase());
      if (!head.includes('period')) { g.result = { ok: false, text: 'The file\'s first line names its columns: period, then ' + columns.join(', ') + ' (download the template).' }; render(true); return; }
      for (const line of rows) {
        const row = rowAt(line[head.indexOf('period')]);
        for (const c of columns) if (head.includes(c)) row[c] = line[head.indexOf(c)] || '';
      }
      g.result = { ok: true, text: `Read ${rows.length} row${rows.length === 1 ? '' : 's'} from ${file.name}: check them, then record.` };
      render(true);
    };
    const template = () => saveFile(new Blob([`period,${columns.join(',')}\n${g.rows.filter((x) => !recorded.has(x.period)).map((x) => `${x.period}${','.repeat(columns.length)}`).join('\n')}\n`], { type: 'text/csv' }),
      `${def.name.replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()}-template.csv`);
    const submit = async (ev) => {
      ev.preventDefault();
      const todo = g.rows.filter((row) => filled(row) && row.status !== 'recorded' && !recorded.has(row.period));
      if (!todo.length) { g.result = { ok: false, text: 'Nothing to record: fill in a row or paste cells first.' }; render(true); return; }
      const button = ev.target.querySelector('button[type="submit"]');
      if (button) button.disabled = true;
      let done = 0;
      for (const row of todo) {
        const body = { program_id: pid, period: row.period.trim() };
        if (ratio) Object.assign(body, { numerator: num(row.numerator), denominator: num(row.denominator) });
        else body.value = num(row.value);
        if (row.note.trim()) body.note = row.note.trim();
        if (await sendForm(row, `dg-${g.rows.indexOf(row)}`, `/api/v1/measures/${enc(g.measure)}/data-points`, body)) {
          row.status = 'recorded';
          done++;
        }
        row.result = null;
      }
      const refused = todo.length - done;
      g.result = { ok: !refused, text: `Recorded ${done} of ${todo.length} for ${def.name}.${refused ? ` ${refused} refused: see the rows marked.` : ''}` };
      render(true);
    };
    const cell = (row, i, c) => {
      const id = `dg-${i}-${c}`;
      const error = row.errors[c];
      if (recorded.has(row.period) && row.status !== 'recorded') {
        const p = recorded.get(row.period);
        return h('td', { class: 'recorded' }, c === 'note' ? '' : fmtNumber(p[c]));
      }
      return h('td', null, h('input', { id, value: row[c], inputmode: c === 'note' ? null : 'decimal', 'aria-label': `${label(c)}, ${row.period || `row ${i + 1}`}`,
        'aria-invalid': error ? 'true' : 'false', 'aria-describedby': `dg-${i}-err-${c}`, disabled: row.status === 'recorded',
        oninput: (ev) => { row[c] = ev.target.value; ev.target.form.dataset.dirty = 'true'; }, onpaste: onpaste(i, c) }),
      h('span', { id: `dg-${i}-err-${c}`, class: 'field-error' }, error || ''));
    };
    return h('section', { class: 'card', 'aria-labelledby': 'de-h' },
      h('h2', { id: 'de-h' }, 'Record data'),
      h('p', { class: 'muted small' }, 'For this program. Type into the grid, paste a block of cells from a spreadsheet, or read a CSV file; each filled row is recorded as one data point. Nothing is overwritten: a correction is recorded beside the original.'),
      h('div', { class: 'controls' }, h('div', null, h('label', { for: 'de-measure' }, 'Measure'),
        h('select', { id: 'de-measure', onchange: (ev) => { state.grid = { program: pid, measure: ev.target.value, rows: null, result: null }; delete state.forms.fx; render(true); } },
          measures.map((m) => h('option', { value: m.id, selected: m.id === g.measure }, m.title))))),
      h('p', { class: 'small definition', id: 'de-definition' }, String(def.description).replace(/([^.!?])$/, '$1.'),
        ratio ? ` Numerator: ${def.numerator || '–'}. Denominator: ${def.denominator || '–'}.` : ` In ${def.unit}.`,
        ` One row per ${def.period} (${PERIOD_SHAPES[def.period] || def.period}).`),
      h('form', { id: 'de-form', onsubmit: submit, novalidate: true },
        h('div', { class: 'scroll' }, h('table', { class: 'grid', id: 'de-grid' },
          h('caption', { class: 'muted small' }, `${def.name}: ${ratio ? 'numerator and denominator' : `value in ${def.unit}`} per ${def.period}`),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Period'), columns.map((c) => h('th', { scope: 'col' }, c === 'note' ? 'Note (optional)' : humanType(c))), h('th', { scope: 'col' }, 'Status'))),
          h('tbody', null, g.rows.map((row, i) => h('tr', { class: row.status === 'recorded' ? 'done' : '' },
            h('th', { scope: 'row' }, recorded.has(row.period) || row.status === 'recorded' ? row.period
              : [h('input', { id: `dg-${i}-period`, value: row.period, size: 9, 'aria-label': `Period of row ${i + 1}`, 'aria-invalid': row.errors.period ? 'true' : 'false',
                'aria-describedby': `dg-${i}-err-period`, oninput: (ev) => { row.period = ev.target.value; } }),
              h('span', { id: `dg-${i}-err-period`, class: 'field-error' }, row.errors.period || '')]),
            columns.map((c) => cell(row, i, c)),
            h('td', { class: 'status' }, row.status === 'recorded' ? 'Recorded' : recorded.has(row.period) ? 'Recorded before'
              : row.errors.form ? h('span', { class: 'field-error' }, row.errors.form) : Object.keys(row.errors).length ? h('span', { class: 'field-error' }, 'Refused') : '')))))),
        h('div', { class: 'actions' },
          h('button', { type: 'submit', id: 'de-submit', class: 'primary' }, 'Record the filled rows'),
          h('button', { type: 'button', id: 'de-add-row', onclick: () => { g.rows.unshift(blank('')); render(true); } }, 'Add an earlier period'),
          h('button', { type: 'button', id: 'de-template', onclick: template }, 'Download a CSV template'),
          h('label', { class: 'inline file', for: 'de-file' }, 'Read a CSV file'),
          h('input', { type: 'file', id: 'de-file', accept: '.csv,text/csv', onchange: onfile })),
        h('p', { id: 'de-result', role: 'status', class: g.result ? (g.result.ok ? 'ok' : 'error') : '' }, g.result ? g.result.text : '',
          g.result && g.result.ok ? [' ', h('a', { href: `#/measures/${enc(g.measure)}/${enc(pid)}` }, 'See its run chart')] : null)),
      recorded.size ? fixForm(g.measure, def, recorded) : null);
  }

  // A recorded point corrected (new numbers, saying what was wrong) or excluded from the charts
  // (with the reason); the original stays on record beside it.
  function fixForm(measureId, def, recorded) {
    const ratio = def.scale === 'ratio';
    const periods = [...recorded.keys()].sort().reverse();
    const pointOf = (period) => {
      const p = recorded.get(period);
      return p && p.contributions && p.contributions[0] ? p.contributions[0].point_id : 'none';
    };
    return apiForm({ prefix: 'fx', title: 'Correct or exclude a recorded period', open: false,
      intro: 'A correction records the right numbers beside the wrong ones; an exclusion leaves the point out of the run and control charts. Both say why, and nothing is overwritten.',
      init: () => ({ period: periods[0], action: 'correct', numerator: '', denominator: '', value: '', reason: '' }),
      fields: [['period', 'Period', 'select', Object.fromEntries(periods.map((x) => [x, `${x}: ${ratio ? `${fmtNumber(recorded.get(x).numerator)} of ${fmtNumber(recorded.get(x).denominator)}` : fmtNumber(recorded.get(x).value)}`]))],
        ['action', 'Change', 'select', { correct: 'Correct its numbers', exclude: 'Exclude it from the charts' }],
        ...(ratio ? [['numerator', 'Right numerator (to correct)', 'text', null, { inputmode: 'decimal' }], ['denominator', 'Right denominator (to correct)', 'text', null, { inputmode: 'decimal' }]]
          : [['value', `Right value in ${def.unit} (to correct)`, 'text', null, { inputmode: 'decimal' }]]),
        ['reason', 'What was wrong, or why it is left out']],
      button: 'Record the change',
      path: (v) => `/api/v1/measures/${enc(measureId)}/data-points/${enc(pointOf(v.period))}/${v.action === 'exclude' ? 'exclude' : 'correct'}`,
      body: (v) => (v.action === 'exclude' ? { reason: v.reason.trim() }
        : { ...(ratio ? { numerator: num(v.numerator), denominator: num(v.denominator) } : { value: num(v.value) }), reason: v.reason.trim() }),
      done: (ans, v) => (v.action === 'exclude' ? `Excluded ${v.period}.` : `Corrected ${v.period}.`) });
  }

  const fmtNumber = (v) => (v === null || v === undefined ? '–' : Number(v.toFixed(4)).toString());

  function cycleCard(c) {
    return h('article', { class: `cycle-card${c.gaps.length ? ' has-gaps' : ''}` },
      h('a', { href: `#/cycles/${enc(c.cycle_id)}` }, c.title),
      h('div', { class: 'muted' }, `Cycle ${c.cycle_number} of its ramp · ${label(c.purpose)} · ${c.scale}`),
      h('div', null, c.change_ideas.map((i) => i.title).join(', ')),
      h('div', { class: 'muted' }, `${c.planned_start} → ${c.completed_on || c.planned_end}`),
      c.decision ? h('div', null, 'Decision: ', h('span', { class: `dec-${c.decision}` }, c.decision), c.decision_reason ? ` — ${c.decision_reason}` : '') : null,
      c.abandoned_reason ? h('div', null, `Abandoned: ${c.abandoned_reason}`) : null,
      c.gaps.length ? h('ul', { class: 'small', 'aria-label': 'Gaps' }, c.gaps.map((g) => h('li', null, h('span', { class: 'badge gap' }, `⚠ ${g}`)))) : null);
  }

  // A program's evidence packet, for accreditation: its self-assessments over time with the
  // evidence each cites, the cycles it ran with their decisions, the measures it reports with
  // their latest values and signals; as of the replay date when one is set; printable, and as one
  // JSON file.
  async function viewPacket(pid) {
    const asOf = asOfParam();
    const [portfolio, board, measures] = await Promise.all([
      api(`/api/v1/programs/${enc(pid)}/portfolio`, asOf),
      api(`/api/v1/programs/${enc(pid)}/pdsa-board`, asOf),
      api(`${netPath()}/measures`),
    ]);
    const charts = (await pool(measures.items || [], 4, (m) => api(`/api/v1/measures/${enc(m.id)}/run-chart`, { program_id: pid, ...asOf })))
      .filter((c) => !(c instanceof Error) && c.points.some((p) => p.value !== null && p.value !== undefined));
    const cycles = PHASES.flatMap((ph) => board.columns[ph]).sort((a, b) => (a.planned_start < b.planned_start ? -1 : a.planned_start > b.planned_start ? 1 : 0));
    const when = state.asOf ? asOfWords() : `as of ${today()}`;
    // The same packet from the API, as of the same point: one JSON document, or one CSV table.
    const fileName = (ext) => `evidence-packet-${board.program_name.replace(/[^A-Za-z0-9]+/g, '-')}.${ext}`;
    const download = (format) => async () => {
      const status = $('ep-status');
      try {
        const body = await api(`/api/v1/programs/${enc(pid)}/evidence-packet`, { format, ...asOf });
        saveFile(new Blob([format === 'csv' ? body : JSON.stringify(body, null, 2)], { type: format === 'csv' ? 'text/csv' : 'application/json' }), fileName(format));
        status.textContent = `${fileName(format)} downloaded.`;
      } catch (e) {
        status.textContent = `The packet could not be made: ${e.message}`;
      }
    };
    const latestOf = (c) => [...c.points].reverse().find((p) => p.value !== null && p.value !== undefined);
    const signalOf = (c) => { const sg = c.phases.flatMap((ph) => ph.signals || []); return sg.length ? sg[sg.length - 1].message : 'no signal'; };
    return h('div', null, h('section', { class: 'card', 'aria-labelledby': 'ep-h' },
      h('h1', { id: 'ep-h' }, `Evidence packet: ${board.program_name}`),
      h('p', { class: 'muted small' }, `${when} · log position ${board.position} · `, h('a', { href: `#/programs/${enc(pid)}` }, 'the program’s board')),
      h('div', { class: 'actions no-print' }, h('button', { type: 'button', id: 'ep-print', onclick: () => window.print() }, 'Print'), ' ',
        h('button', { type: 'button', id: 'ep-csv', onclick: download('csv') }, 'Download as CSV'), ' ',
        h('button', { type: 'button', id: 'ep-json', onclick: download('json') }, 'Download as JSON'),
        h('span', { id: 'ep-status', role: 'status', class: 'small muted' }))),
    portfolioSection(portfolio, pid),
    h('section', { class: 'card', 'aria-labelledby': 'ep-cy-h' }, h('h2', { id: 'ep-cy-h' }, `PDSA cycles (${cycles.length})`),
      cycles.length ? h('div', { class: 'scroll' }, h('table', { id: 'ep-cycles' },
        h('thead', null, h('tr', null, ['Cycle', 'Change ideas', 'Planned', 'Phase', 'Decision'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, cycles.map((c) => h('tr', null,
          h('td', null, h('a', { href: `#/cycles/${enc(c.cycle_id)}` }, c.title), h('div', { class: 'small muted' }, `cycle ${c.cycle_number} of its ramp`)),
          h('td', null, c.change_ideas.map((i) => i.title).join('; ')),
          h('td', null, `${c.planned_start} → ${c.planned_end}`),
          h('td', null, label(c.phase)),
          h('td', null, c.decision ? `${DECISIONS[c.decision]}${c.decision_reason ? `: ${c.decision_reason}` : ''}` : '—'))))))
        : h('p', { class: 'muted' }, 'No cycles yet.')),
    h('section', { class: 'card', 'aria-labelledby': 'ep-m-h' }, h('h2', { id: 'ep-m-h' }, `Measures it reports (${charts.length})`),
      charts.length ? h('div', { class: 'scroll' }, h('table', { id: 'ep-measures' },
        h('thead', null, h('tr', null, ['Measure', 'Latest', 'Points', 'Latest signal'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, charts.map((c) => {
          const last = latestOf(c);
          return h('tr', null,
            h('td', null, h('a', { href: `#/measures/${enc(c.measure_id)}/${enc(pid)}` }, c.measure_name)),
            h('td', null, last ? `${last.period}: ${fmtValue(c, last.value)}` : '—'),
            h('td', null, String(c.points.filter((p) => p.value !== null && p.value !== undefined).length)),
            h('td', null, signalOf(c)));
        }))))
        : h('p', { class: 'muted' }, 'It reports no measure yet.')));
  }

  function portfolioSection(pf, pid) {
    return h('section', { class: 'card', 'aria-labelledby': 'pf-h' }, h('h2', { id: 'pf-h' }, 'Portfolio: quality standards'),
      pf.standards.length ? h('div', { class: 'scroll' }, h('table', null,
        h('thead', null, h('tr', null, ['Standard', 'Self-ratings over time', 'Latest', 'Change', 'Evidence (latest)'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, pf.standards.map((st) => {
          const latest = st.ratings[st.ratings.length - 1];
          return h('tr', null,
            h('th', { scope: 'row' }, `${st.code} ${st.title}`),
            h('td', null, st.ratings.length ? st.ratings.map((r) => `${r.assessed_on}: ${r.rating}`).join(' → ') : 'not assessed'),
            h('td', null, st.latest_rating ?? '–'),
            h('td', null, st.change === null || st.change === undefined ? '–' : st.change > 0 ? `+${st.change}` : String(st.change)),
            h('td', null, latest ? h('ul', null, latest.evidence.map((e) => h('li', null,
              e.kind === 'measure' && e.id ? h('a', { href: `#/measures/${enc(e.id)}/${enc(pid)}` }, e.title)
                : e.kind === 'cycle' && e.id ? h('a', { href: `#/cycles/${enc(e.id)}` }, e.title) : e.title,
              e.note ? h('span', { class: 'small muted' }, ` — ${e.note}`) : null))) : ''));
        }))))
        : h('p', { class: 'muted' }, 'No standards yet.'));
  }

  // A change idea this program proposes to the network: the hub accepts or declines it.
  async function proposeForm(pid) {
    const net = await api(netPath());
    const drivers = Object.values(net.nodes).filter((x) => !x.retired && (x.kind === 'primary' || x.kind === 'secondary'));
    return h('section', { class: 'card', 'aria-labelledby': 'pp-h' },
      h('h2', { id: 'pp-h' }, 'Propose a change idea to the network'),
      apiForm({ prefix: 'pp', title: 'The idea, and why', open: false,
        intro: 'Something this program has seen work, or wants to try, for the network\'s driver diagram. The hub accepts or declines it.',
        init: () => ({ title: '', definition: '', rationale: '', serves: [] }),
        fields: [['title', 'Title'], ['definition', 'What it is (optional)', 'textarea'], ['rationale', 'Why the network should try it', 'textarea'],
          (f) => checkGroup('pp', 'serves', 'Drivers it serves', drivers, f.v.serves, f.errors.serves)],
        button: 'Propose it', path: `${netPath()}/change-ideas`,
        body: (v) => ({ title: v.title.trim(), definition: v.definition.trim(), rationale: v.rationale.trim(), proposed_by_program: pid,
          serves: v.serves.map((id) => ({ node_id: id, strength: 'strong' })) }),
        done: (ans, v) => `Proposed “${v.title.trim()}”: the hub will accept or decline it.` }));
  }

  const SCALE = { 1: '1 — Not yet', 2: '2 — Developing', 3: '3 — Meets the standard', 4: '4 — Exemplary' };

  // A self-assessment against one of the network's quality standards: the rating in the scale's
  // words, the date, and the evidence it cites (the program's cycles and measures, picked by
  // name, or a document outside the ledger).
  async function selfAssessForm(pid, board) {
    const [net, measures] = await Promise.all([api(netPath()), api(`${netPath()}/measures`)]);
    const standards = Object.values(net.standards || {});
    if (!standards.length) return null;
    const cycles = PHASES.flatMap((ph) => board.columns[ph]).map((c) => ({ id: c.cycle_id, title: c.title }));
    return h('section', { class: 'card', 'aria-labelledby': 'sa-h' },
      h('h2', { id: 'sa-h' }, 'Rate this program against a standard'),
      apiForm({ prefix: 'sa', title: 'The rating, its date and its evidence',
        intro: 'How the program stands against one of the network\'s quality standards today, and what shows it.',
        init: () => ({ standard_id: standards[0].standard_id, rating: '2', assessed_on: today(), cycles: [], measures: [], document: '', note: '' }),
        fields: [['standard_id', 'Standard', 'select', Object.fromEntries(standards.map((x) => [x.standard_id, `${x.code} ${x.title}`]))],
          ['rating', 'Rating', 'select', SCALE], ['assessed_on', 'Assessed on', 'date'],
          (f) => checkGroup('sa', 'cycles', 'Evidence: the program\'s PDSA cycles', cycles, f.v.cycles, f.errors.cycles),
          (f) => checkGroup('sa', 'measures', 'Evidence: measures it reports', measures.items || [], f.v.measures, f.errors.measures),
          ['document', 'Evidence: a document outside the ledger (optional title or address)'], ['note', 'Note (optional)', 'textarea']],
        button: 'Record the self-assessment', path: `/api/v1/programs/${enc(pid)}/self-assessments`,
        body: (v) => ({ standard_id: v.standard_id, rating: Number(v.rating), assessed_on: v.assessed_on || null, note: v.note.trim(),
          evidence: [...v.cycles.map((id) => ({ kind: 'cycle', id })), ...v.measures.map((id) => ({ kind: 'measure', id })),
            ...(v.document.trim() ? [{ kind: 'document', reference: v.document.trim() }] : [])] }),
        done: (ans, v) => `Recorded: ${SCALE[v.rating].replace(/^\d — /, '')}.` }));
  }

  // -------------------------------------------------------------------------------------------
  // A PDSA cycle

  async function viewCycle(r) {
    const { body: c, version } = await apiVersioned(`/api/v1/pdsa-cycles/${enc(r.args[0] || '')}`);
    const notice = state.notice;
    state.notice = null;
    const p = c.planned;
    // Names, never ids: the program's, and the change ideas' from the network's diagram.
    const net = `/api/v1/networks/${enc(p.network_id)}`;
    const [program, network, measures, ramp, programs, origin] = await Promise.all([
      api(`/api/v1/programs/${enc(p.program_id)}`).catch(() => null),
      api(net).catch(() => null),
      api(`${net}/measures`).catch(() => ({ items: [] })),
      // The program's cycles: this one's place in its ramp, before and after.
      api(`${net}/pdsa-register`, { program_id: p.program_id, limit: 500 }).catch(() => ({ rows: [] })),
      api(`${net}/programs`).catch(() => ({ items: [] })),
      p.adapted_from_cycle_id ? api(`/api/v1/pdsa-cycles/${enc(p.adapted_from_cycle_id)}`).catch(() => null) : null,
    ]);
    const programTitle = (id) => ((programs.items || []).find((x) => x.id === id) || {}).title || 'another program';
    // The programs this person plans for, besides this cycle's own: where it may be adapted to.
    const mine = (programs.items || []).filter((x) => x.id !== p.program_id
      && state.me && (state.me.role === 'admin' || (state.me.role === 'facilitator' && state.me.programs.includes(x.id))));
    const programName = (program && program.name) || 'its program';
    const measureLinks = (p.plan.measure_ids || []).map((id, i) => {
      const m = (measures.items || []).find((x) => x.id === id);
      return [i ? ', ' : '', h('a', { href: `#/measures/${enc(id)}/${enc(p.program_id)}` }, m ? m.title : 'a measure no longer listed')];
    });
    const cycleLink = (row) => h('a', { href: `#/cycles/${enc(row.cycle.cycle_id)}` }, `cycle ${row.cycle.cycle_number}: ${row.cycle.title}`);
    const rows = ramp.rows || [];
    const before = rows.find((x) => x.cycle.cycle_id === p.previous_cycle_id);
    const after = rows.filter((x) => x.cycle.previous_cycle_id === c.id);
    const nodeTitle = (id) => (network && network.nodes && network.nodes[id] && network.nodes[id].title) || 'a change idea no longer on the diagram';
    const kv = (pairs) => h('dl', { class: 'kv' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '').map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
    return h('div', null,
      notice ? h('p', { id: 'cy-notice', class: 'banner', role: 'alert' }, notice) : null,
      h('section', { class: 'card', 'aria-labelledby': 'cy-h' },
      h('h1', { id: 'cy-h' }, p.title),
      h('p', { class: 'no-print' }, h('button', { type: 'button', id: 'cy-print', onclick: () => window.print() }, 'Print the worksheet')),
      h('p', null, h('span', { class: 'badge' }, c.phase), ' ',
        c.gaps && c.gaps.length ? c.gaps.map((g) => [h('span', { class: 'badge gap' }, `⚠ ${g}`), ' ']) : null,
        h('a', { href: `#/programs/${enc(p.program_id)}` }, `${programName}’s board`), ' · tests ',
        p.change_idea_ids.map((id, i) => [i ? ', ' : '', h('a', { href: `#/diagram/${enc(id)}` }, nodeTitle(id))])),
      kv([['Cycle', `${p.cycle_number} of its ramp`],
        ['Adapted from', origin ? [h('a', { href: `#/cycles/${enc(p.adapted_from_cycle_id)}`, id: 'cy-origin' }, origin.planned.title), ` (${programTitle(origin.planned.program_id)})`] : null],
        ['Builds on', before ? cycleLink(before) : null],
        ['Built on by', after.length ? after.map((x, i) => [i ? ', ' : '', cycleLink(x)]) : null],
        ['Purpose', label(p.purpose)], ['Scale', p.scale],
        ['Measures', measureLinks.length ? measureLinks : null],
        ['Planned', `${p.planned_start} → ${p.planned_end}`], ['Started', c.started_on]]),
      h('h2', null, 'Plan'),
      kv([['Objective', p.plan.objective], ['Who, what, when, where', p.plan.who_what_when_where],
        ['Data collection', p.plan.data_collection_plan], ['Tasks', (p.plan.tasks || []).join('; ')]]),
      h('ol', null, (p.plan.questions || []).map((q) => h('li', null, q.question,
        h('div', { class: 'small muted' }, `Prediction: ${q.prediction || '—'}${q.reason ? ` (because ${q.reason})` : ''}`)))),
      c.do ? [h('h2', null, 'Do'), kv([['As planned', c.do.carried_out_as_planned ? 'yes' : 'no'], ['What happened', c.do.what_happened],
        ['Problems and surprises', c.do.problems_and_surprises], ['Completed', c.do.completed_on]])] : null,
      c.study ? [h('h2', null, 'Study'), h('p', null, c.study.summary), h('ul', null, (c.study.results || []).map((res) => h('li', null,
        `Q${res.question_index + 1}: ${res.result} (prediction held: ${res.prediction_held})${res.learned ? ` — learned: ${res.learned}` : ''}`)))] : null,
      c.act ? [h('h2', null, 'Act'), kv([['Decision', h('span', { class: `dec-${c.act.decision}` }, c.act.decision)], ['Reason', c.act.reason],
        ['Next cycle', c.act.next_cycle], ['Decided', c.act.decided_on]]),
      c.act.decision !== 'abandon' ? h('p', null, h('button', { type: 'button', id: 'cy-next', class: 'primary', onclick: () => {
        state.plan = nextPlan(c);
        location.hash = `#/programs/${enc(p.program_id)}`;
      } }, 'Plan the next cycle of this ramp')) : null] : null,
      c.abandoned ? [h('h2', null, 'Abandoned'), h('p', null, c.abandoned.reason || '')] : null,
      c.corrections && c.corrections.length ? [h('h2', null, 'Corrections'), h('ul', { id: 'cy-corrections' }, c.corrections.map((x) => h('li', null,
        `The ${SECTIONS[x.correction.section] || x.correction.section} section was corrected: ${x.reason}`)))] : null),
      mine.length ? adaptForm(c, mine) : null,
      stepForm(r.args[0], c, version), abandonForm(r.args[0], c, version), correctionForm(r.args[0], c, version));
  }

  // Another program's cycle, started afresh in one of mine: its plan, change ideas and
  // questions pre-filled, citing it as the origin (as NILS does); the dates and predictions are
  // the new cycle's own.
  function adaptedPlan(c, pid) {
    const p = c.planned;
    const f = emptyPlan(pid);
    Object.assign(f, {
      title: p.title, purpose: p.purpose, scale: p.scale, who: p.plan.who_what_when_where || '',
      objective: p.plan.objective, ideas: [...p.change_idea_ids], measures: [...(p.plan.measure_ids || [])],
      questions: (p.plan.questions || []).map((q) => ({ question: q.question, prediction: '', reason: '' })),
      origin: { id: c.id, title: p.title },
    });
    if (!f.questions.length) f.questions = emptyPlan(pid).questions;
    return f;
  }

  function adaptForm(c, mine) {
    const go = (ev) => {
      ev.preventDefault();
      const pid = mine.length === 1 ? mine[0].id : ev.target.querySelector('select').value;
      state.plan = adaptedPlan(c, pid);
      location.hash = `#/programs/${enc(pid)}`;
    };
    return h('section', { class: 'card no-print', 'aria-labelledby': 'ad-own-h' },
      h('h2', { id: 'ad-own-h' }, 'Try it in your program'),
      h('p', { class: 'muted small' }, 'Start a cycle of your own from this plan: its change ideas, objective and questions are filled in, and it cites this cycle as its origin. Your dates and predictions are your own.'),
      h('form', { class: 'inline-form', id: 'cy-adapt', onsubmit: go },
        mine.length > 1 ? [h('label', { class: 'inline', for: 'cy-adapt-program' }, 'Into'),
          h('select', { id: 'cy-adapt-program' }, mine.map((x) => h('option', { value: x.id }, x.title)))] : null,
        h('button', { type: 'submit', class: 'primary', id: 'cy-adapt-submit' }, mine.length === 1 ? `Start my own cycle in ${mine[0].title}` : 'Start my own cycle from this one')));
  }

  const SECTIONS = { plan: 'Plan', do: 'Do', study: 'Study', act: 'Act' };

  // A closed cycle corrected, section by section: the section as it should have read, pre-filled
  // with what it reads now, and what was wrong. The page then shows the corrected section, and
  // the correction with its reason below it.
  function correctionForm(id, c, version) {
    if (c.phase !== 'acted' && c.phase !== 'abandoned') return null;
    const sections = ['do', 'study', 'act'].filter((x) => c[x]);
    if (!sections.length) return null;
    const at = 'correction.corrected.';
    const init = (section) => {
      const v = { section, reason: '' };
      const s2 = c[section];
      if (section === 'do') Object.assign(v, { [`${at}carried_out_as_planned`]: String(s2.carried_out_as_planned), [`${at}what_happened`]: s2.what_happened,
        [`${at}problems_and_surprises`]: s2.problems_and_surprises || '', [`${at}completed_on`]: s2.completed_on });
      if (section === 'study') {
        v[`${at}summary`] = s2.summary;
        (s2.results || []).forEach((x, i) => Object.assign(v, { [`${at}results[${i}].result`]: x.result, [`${at}results[${i}].prediction_held`]: x.prediction_held, [`${at}results[${i}].learned`]: x.learned || '' }));
      }
      if (section === 'act') Object.assign(v, { [`${at}decision`]: s2.decision, [`${at}reason`]: s2.reason, [`${at}next_cycle`]: s2.next_cycle || '', [`${at}decided_on`]: s2.decided_on });
      return v;
    };
    if (state.forms.co && state.forms.co.cycle !== id) delete state.forms.co;
    const f = formState('co', () => init(sections[0]));
    f.cycle = id;
    const section = f.v.section;
    const questions = c.planned.plan.questions || [];
    const fields = [(f2) => h('div', { class: 'field' }, h('label', { for: 'co-section' }, 'Section'),
      h('select', { id: 'co-section', onchange: (ev) => { f2.v = init(ev.target.value); f2.errors = {}; f2.result = null; render(true); } },
        sections.map((x) => h('option', { value: x, selected: x === section }, SECTIONS[x]))))];
    if (section === 'do') {
      fields.push([`${at}carried_out_as_planned`, 'Carried out as planned', 'select', { true: 'Yes', false: 'No' }], [`${at}what_happened`, 'What happened', 'textarea'],
        [`${at}problems_and_surprises`, 'Problems and surprises (optional)', 'textarea'], [`${at}completed_on`, 'Completed on', 'date']);
    } else if (section === 'study') {
      (c.study.results || []).forEach((x, i) => fields.push(
        [`${at}results[${i}].result`, `Result for question ${x.question_index + 1}${questions[x.question_index] ? `: ${questions[x.question_index].question}` : ''}`, 'textarea'],
        [`${at}results[${i}].prediction_held`, 'Did the prediction hold?', 'select', HELD],
        [`${at}results[${i}].learned`, 'What was learned (optional)', 'textarea']));
      fields.push([`${at}summary`, 'Summary', 'textarea']);
    } else {
      fields.push([`${at}decision`, 'Decision', 'select', DECISIONS], [`${at}reason`, 'Why', 'textarea'],
        [`${at}next_cycle`, 'What the next cycle will change (optional)', 'textarea'], [`${at}decided_on`, 'Decided on', 'date']);
    }
    fields.push(['reason', 'What was wrong']);
    const get = (v, k) => String(v[`${at}${k}`] === undefined ? '' : v[`${at}${k}`]).trim();
    return h('div', { class: 'card no-print' }, apiForm({ prefix: 'co', title: 'Correct a section of this closed cycle', open: false,
      intro: 'A closed cycle is not edited: a correction records the section as it should have read, and what was wrong; both stay on record.',
      init: () => init(sections[0]), fields, button: 'Record the correction', ifMatch: version,
      path: `/api/v1/pdsa-cycles/${enc(id)}/corrections`,
      body: (v) => {
        let corrected;
        if (v.section === 'do') corrected = { carried_out_as_planned: get(v, 'carried_out_as_planned') === 'true', what_happened: get(v, 'what_happened'),
          problems_and_surprises: get(v, 'problems_and_surprises'), observations: c.do.observations || [], completed_on: get(v, 'completed_on') || null };
        else if (v.section === 'study') corrected = { summary: get(v, 'summary'), results: (c.study.results || []).map((x, i) => ({ question_index: x.question_index,
          result: get(v, `results[${i}].result`), prediction_held: get(v, `results[${i}].prediction_held`), learned: get(v, `results[${i}].learned`) })) };
        else corrected = { decision: get(v, 'decision'), reason: get(v, 'reason'), next_cycle: get(v, 'next_cycle'), decided_on: get(v, 'decided_on') || null };
        return { correction: { section: v.section, corrected }, reason: v.reason.trim() };
      },
      done: (ans, v) => `Corrected the ${SECTIONS[v.section]} section.` }));
  }

  // Stopping a cycle before it is acted on, with the reason (it closes, as IHI's worksheet allows).
  function abandonForm(id, c, version) {
    if (c.phase === 'acted' || c.phase === 'abandoned') return null;
    if (!state.abandon || state.abandon.id !== id) state.abandon = { id, reason: '', key: null, errors: {}, result: null, open: false };
    const f = state.abandon;
    const submit = async (ev) => {
      ev.preventDefault();
      if (await sendForm(f, 'ab', `/api/v1/pdsa-cycles/${enc(id)}/abandon`, { reason: f.reason.trim() }, version)) {
        f.result = { ok: true, text: 'Abandoned: the cycle is closed.' };
      }
      render(true);
    };
    return h('details', { class: 'card no-print', id: 'ab', open: f.open || Object.keys(f.errors).length > 0, ontoggle: (ev) => { f.open = ev.target.open; } },
      h('summary', null, 'Abandon this cycle'),
      h('p', { class: 'muted small' }, 'Stops the cycle before its Act; it closes and stays on record with the reason.'),
      h('form', { id: 'ab-form', class: 'entry', onsubmit: submit, novalidate: true },
        formField('ab', 'reason', 'Why it stops', f.errors.reason, () => f.reason, (v) => { f.reason = v; }, 'textarea'),
        h('button', { type: 'submit', id: 'ab-submit' }, 'Abandon the cycle'),
        formOutcome('ab', f, null)));
  }

  const today = () => new Date().toISOString().slice(0, 10);
  const HELD = { yes: 'Yes', partly: 'Partly', no: 'No' };
  const DECISIONS = { adopt: 'Adopt', adapt: 'Adapt', abandon: 'Abandon' };

  // The worksheet's next phase of a cycle as a form: start the test, record what happened (Do),
  // the results against the predictions (Study), the decision (Act).
  function stepForm(id, c, version) {
    const questions = c.planned.plan.questions || [];
    let step;
    if (c.phase === 'planned') step = 'start';
    else if (c.phase === 'doing') step = 'do';
    else if (c.phase === 'studying' && !c.study) step = 'study';
    else if (c.phase === 'studying') step = 'act';
    else return null;
    // Dates default to today, or to the cycle's latest date when that is later (a test that
    // starts tomorrow ends no sooner).
    const latest = [today(), c.planned.planned_start, c.started_on, c.do && c.do.completed_on].filter(Boolean).sort().pop();
    if (!state.step || state.step.id !== id || state.step.step !== step) {
      state.step = { id, step, key: null, errors: {}, result: null, v: {
        started_on: c.planned.planned_start, carried_out_as_planned: 'true', what_happened: '', problems_and_surprises: '',
        completed_on: latest, summary: '', decision: 'adopt', reason: '', next_cycle: '', decided_on: latest,
        results: questions.map(() => ({ result: '', prediction_held: 'yes', learned: '' })) } };
    }
    const f = state.step;
    const field = (path, labelText, get, set, kind, options) =>
      formField('st', path, labelText, f.errors[fieldKey(path)], get, set, kind, options);
    const v = f.v;
    const at = (name) => [() => v[name], (x) => { v[name] = x; }];
    let title; let fields; let body;
    if (step === 'start') {
      title = 'Start the test';
      fields = [field('started_on', 'Started on', ...at('started_on'), 'date')];
      body = () => ({ started_on: v.started_on });
    } else if (step === 'do') {
      title = 'Do: what happened';
      fields = [field('carried_out_as_planned', 'Carried out as planned', ...at('carried_out_as_planned'), 'select', { true: 'Yes', false: 'No' }),
        field('what_happened', 'What happened', ...at('what_happened'), 'textarea'),
        field('problems_and_surprises', 'Problems and surprises (optional)', ...at('problems_and_surprises'), 'textarea'),
        field('completed_on', 'Completed on', ...at('completed_on'), 'date')];
      body = () => ({ carried_out_as_planned: v.carried_out_as_planned === 'true', what_happened: v.what_happened.trim(),
        problems_and_surprises: v.problems_and_surprises.trim(), completed_on: v.completed_on });
    } else if (step === 'study') {
      title = 'Study: results against predictions';
      fields = [questions.map((q, i) => h('fieldset', { class: 'question' }, h('legend', null, `Question ${i + 1}: ${q.question}`),
        h('p', { class: 'small muted' }, `Prediction: ${q.prediction}`),
        field(`results[${i}].result`, 'Result', () => v.results[i].result, (x) => { v.results[i].result = x; }, 'textarea'),
        field(`results[${i}].prediction_held`, 'Did the prediction hold?', () => v.results[i].prediction_held, (x) => { v.results[i].prediction_held = x; }, 'select', HELD),
        field(`results[${i}].learned`, 'What was learned (optional)', () => v.results[i].learned, (x) => { v.results[i].learned = x; }, 'textarea'))),
      field('summary', 'Summary', ...at('summary'), 'textarea')];
      body = () => ({ results: v.results.map((r2, i) => ({ question_index: i, result: r2.result.trim(), prediction_held: r2.prediction_held, learned: r2.learned.trim() })),
        summary: v.summary.trim() });
    } else {
      title = 'Act: the decision';
      fields = [field('decision', 'Decision', ...at('decision'), 'select', DECISIONS),
        field('reason', 'Why', ...at('reason'), 'textarea'),
        field('next_cycle', 'What the next cycle will change (optional)', ...at('next_cycle'), 'textarea'),
        field('decided_on', 'Decided on', ...at('decided_on'), 'date')];
      body = () => ({ decision: v.decision, reason: v.reason.trim(), next_cycle: v.next_cycle.trim(), decided_on: v.decided_on });
    }
    const submit = async (ev) => {
      ev.preventDefault();
      if (await sendForm(f, 'st', `/api/v1/pdsa-cycles/${enc(id)}/${step}`, body(), version)) {
        f.result = { ok: true, text: `${title.split(':')[0]}: recorded.` };
      }
      render(true);
    };
    return h('section', { class: 'card no-print', 'aria-labelledby': 'st-h' },
      h('h2', { id: 'st-h' }, title),
      h('form', { id: 'st-form', class: 'entry', onsubmit: submit, novalidate: true }, fields,
        h('button', { type: 'submit', id: 'st-submit' }, 'Record'),
        formOutcome('st', f, null)));
  }

  // -------------------------------------------------------------------------------------------
  // The hub's workspace (admins): the network's own records, edited in place, and its people.
  // Every form is a client of the public API, as the forms above are.

  // A form kept across re-renders in state.forms[prefix]: its values by API field path, the
  // idempotency key of the write in flight, its errors by field and its outcome line.
  function formState(prefix, init) {
    if (!state.forms[prefix]) state.forms[prefix] = { v: null, key: null, errors: {}, result: null };
    const f = state.forms[prefix];
    // Emptied after a write: filled again from what the page shows now.
    if (!f.v) f.v = init();
    return f;
  }

  // A form of `fields`, each [path, label, kind, options, props] (or an element, or a function
  // of the form's state giving one) posting `body(values)` to `path`; `done(answer, values)`
  // says what was written (a promise for a second write) and the form empties.
  function apiForm({ prefix, title, intro, init, fields, button, path, body, ifMatch, done, open, dated }) {
    const f = formState(prefix, init);
    // A record of something that happened before today says when (sent as Occurred-On).
    if (dated) fields = [...fields, ['occurred_on', 'When it happened, if before today (optional)', 'date', null, { max: today() }]];
    const control = (spec) => {
      if (typeof spec === 'function') return spec(f);
      if (!Array.isArray(spec)) return spec;
      const [p, text, kind, options, props] = spec;
      return formField(prefix, p, text, f.errors[fieldKey(p)], () => f.v[p], (x) => { f.v[p] = x; }, kind, options, props);
    };
    const onsubmit = async (ev) => {
      ev.preventDefault();
      const button2 = ev.target.querySelector('button[type="submit"]');
      if (button2) button2.disabled = true; // a double click writes once
      try {
        const answer = await sendForm(f, prefix, typeof path === 'function' ? path(f.v) : path, body(f.v), ifMatch, dated ? f.v.occurred_on : null);
        if (answer) {
          const text = await done(answer, f.v);
          f.v = null;
          f.result = { ok: true, text };
        }
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 401)) f.result = { ok: false, text: e.message || String(e) };
      }
      render(true);
    };
    const form = h('form', { id: `${prefix}-form`, class: 'entry', onsubmit, novalidate: true },
      fields.map(control), h('button', { type: 'submit', id: `${prefix}-submit` }, button), formOutcome(prefix, f, null));
    const heading2 = h('h3', { id: `${prefix}-h` }, title);
    if (open === undefined) return h('section', { class: 'part', 'aria-labelledby': `${prefix}-h` }, heading2, intro ? h('p', { class: 'muted small' }, intro) : null, form);
    // A form folded away until wanted; it opens again when refused.
    return h('details', { class: 'part', id: `${prefix}-details`, open: open || Object.keys(f.errors).length > 0 || !!f.result },
      h('summary', null, title), intro ? h('p', { class: 'muted small' }, intro) : null, form);
  }

  // A set of checkboxes picking ids by name; the problem+json path `path` maps to it.
  function checkGroup(prefix, path, legend, items, chosen, error) {
    return h('fieldset', { id: `${prefix}-${fieldKey(path)}`, 'aria-describedby': `${prefix}-err-${fieldKey(path)}` },
      h('legend', null, legend),
      items.length ? items.map((it) => h('label', { class: 'pick' },
        h('input', { type: 'checkbox', value: it.id, checked: chosen.includes(it.id), onchange: (ev) => {
          const at = chosen.indexOf(it.id);
          if (ev.target.checked && at < 0) chosen.push(it.id);
          if (!ev.target.checked && at >= 0) chosen.splice(at, 1);
          if (ev.target.form) ev.target.form.dataset.dirty = 'true';
        } }), ` ${it.title}`)) : h('p', { class: 'muted small' }, 'None yet.'),
      h('span', { id: `${prefix}-err-${fieldKey(path)}`, class: 'field-error' }, error || ''));
  }

  const num = (v) => {
    const t = String(v === null || v === undefined ? '' : v).trim();
    if (t === '') return null;
    const n = Number(t.replace(',', '.'));
    return Number.isFinite(n) ? n : t; // not a number: the API says so beside the field
  };
  const KIND_WORDS = { primary: 'Primary driver', secondary: 'Secondary driver', change_idea: 'Change idea' };
  const STRENGTHS = { strong: 'Strong', weak: 'Weak' };

  // Chartering the first network (or another one).
  function charterForm(open) {
    return apiForm({ prefix: 'ch', title: 'Charter a network', open,
      intro: 'A networked improvement community: its name and what it is for.',
      init: () => ({ name: '', purpose: '' }),
      fields: [['name', 'Name'], ['purpose', 'Purpose', 'textarea']],
      button: 'Charter the network', path: '/api/v1/networks',
      body: (v) => ({ name: v.name.trim(), purpose: v.purpose.trim() }),
      done: async (answer, v) => {
        state.networkId = answer.id;
        try { localStorage.setItem(NETWORK_KEY, answer.id); } catch (_) { /* ignore */ }
        await refreshNetworks();
        return `Chartered “${v.name.trim()}”.`;
      } });
  }

  async function viewHub() {
    if (!state.me || state.me.role !== 'admin') return h('div', { class: 'card' }, h('h1', null, 'Network setup'), h('p', null, 'The network\'s own records are the hub\'s: this needs an admin\'s token.'));
    const net = `/api/v1/networks/${enc(state.networkId)}`;
    const notice = state.notice;
    state.notice = null;
    const [{ body: n, version }, programs, measures] = await Promise.all([apiVersioned(net), api(`${net}/programs`), api(`${net}/measures`)]);
    const nodes = Object.values(n.nodes).filter((x) => !x.retired);
    const of = (kind) => nodes.filter((x) => x.kind === kind);
    const ecosystems = Object.values(n.ecosystems);
    const standards = Object.values(n.standards);
    const served = (id) => n.links.filter((l) => l.from === id).map((l) => ({ ...l, node: n.nodes[l.to] })).filter((l) => l.node);
    const a = n.aim;

    const aimForm = apiForm({ prefix: 'aim', dated: true, title: a ? 'Revise the aim' : 'State the aim', open: a ? false : undefined,
      intro: 'How good, by when, for whom: the measurable aim every driver serves.',
      init: () => ({ 'aim.statement': a ? a.statement : '', 'aim.what': a ? a.what : '', 'aim.for_whom': a ? a.for_whom : '',
        'aim.baseline': a && a.baseline !== null ? String(a.baseline) : '', 'aim.target': a ? String(a.target) : '', 'aim.unit': a ? a.unit : '',
        'aim.by_when': a ? a.by_when : '', reason: '' }),
      fields: [['aim.statement', 'Aim statement', 'textarea'], ['aim.what', 'What improves (e.g. STEM course completion)'],
        ['aim.for_whom', 'For whom'], () => h('div', { class: 'row' },
          control3('aim', 'aim.baseline', 'Baseline (optional)'), control3('aim', 'aim.target', 'Target'), control3('aim', 'aim.unit', 'Unit (e.g. percent)')),
        ['aim.by_when', 'By when', 'date'], a ? ['reason', 'Why it changes'] : null],
      button: a ? 'Revise the aim' : 'State the aim', path: `${net}/aim`, ifMatch: version,
      body: (v) => ({ aim: { statement: v['aim.statement'].trim(), what: v['aim.what'].trim(), for_whom: v['aim.for_whom'].trim(),
        baseline: num(v['aim.baseline']), target: num(v['aim.target']), unit: v['aim.unit'].trim(), by_when: v['aim.by_when'] || null },
      ...(a ? { reason: v.reason.trim() } : {}) }),
      done: () => 'The aim is recorded.' });

    const options = (list) => Object.fromEntries(list.map((x) => [x.id, x.title]));
    const driverForm = apiForm({ prefix: 'dr', dated: true, title: 'Add a driver',
      intro: 'A primary driver serves the aim; a secondary driver serves a primary one.',
      init: () => ({ kind: 'primary', title: '', definition: '', serves: '', strength: 'strong' }),
      fields: [['kind', 'Kind', 'select', { primary: 'Primary driver', secondary: 'Secondary driver' }], ['title', 'Title'],
        ['definition', 'What it means (optional)', 'textarea'],
        ['serves', 'Serves (for a secondary driver)', 'select', { '': '—', ...options(of('primary')) }],
        ['strength', 'Link', 'select', STRENGTHS]],
      button: 'Add the driver', path: `${net}/drivers`,
      body: (v) => ({ kind: v.kind, title: v.title.trim(), definition: v.definition.trim(),
        serves: v.serves ? [{ node_id: v.serves, strength: v.strength }] : [] }),
      done: (ans, v) => `Added “${v.title.trim()}”.` });

    const ideaForm = apiForm({ prefix: 'ci', dated: true, title: 'Add a change idea',
      intro: 'Something to try that should move the drivers it serves; added by the hub, it is accepted at once.',
      init: () => ({ title: '', definition: '', serves: [] }),
      fields: [['title', 'Title'], ['definition', 'What it is (optional)', 'textarea'],
        (f) => checkGroup('ci', 'serves', 'Drivers it serves', [...of('secondary'), ...of('primary')], f.v.serves, f.errors.serves)],
      button: 'Add the change idea', path: `${net}/change-ideas`,
      body: (v) => ({ title: v.title.trim(), definition: v.definition.trim(), serves: v.serves.map((id) => ({ node_id: id, strength: 'strong' })) }),
      done: async (ans, v) => {
        const { ok, answer } = await apiPost(`${net}/change-ideas/${enc(ans.id)}/accept`, {}, crypto.randomUUID());
        return ok ? `Added and accepted “${v.title.trim()}”.` : `Proposed “${v.title.trim()}”; not accepted: ${(answer && answer.detail) || 'refused'}.`;
      } });

    const linkForm = apiForm({ prefix: 'ln', dated: true, title: 'Link or unlink two nodes', open: false,
      intro: 'A change idea serves a secondary or a primary driver; a secondary driver serves a primary one. Linking again changes the strength; unlinking says why.',
      init: () => ({ action: 'link', from: '', to: '', strength: 'strong', reason: '' }),
      fields: [['action', 'Change', 'select', { link: 'Link them (or change the strength)', unlink: 'Unlink them' }],
        ['from', 'This node', 'select', { '': '—', ...options([...of('change_idea'), ...of('secondary')]) }],
        ['to', 'serves', 'select', { '': '—', ...options([...of('secondary'), ...of('primary')]) }], ['strength', 'Strength (to link)', 'select', STRENGTHS],
        ['reason', 'Why (to unlink)']],
      button: 'Record the change', ifMatch: version,
      path: (v) => `${net}/links${v.action === 'unlink' ? '/remove' : ''}`,
      body: (v) => (v.action === 'unlink' ? { from: v.from || null, to: v.to || null, reason: v.reason.trim() }
        : { from: v.from || null, to: v.to || null, strength: v.strength }),
      done: (ans, v) => (v.action === 'unlink' ? 'Unlinked.' : 'Linked.') });

    const live = of('change_idea').filter((x) => !['proposed', 'declined'].includes(x.stage));
    const stageForm = apiForm({ prefix: 'stg', dated: true, title: 'Move a change idea to another stage', open: false,
      intro: 'Accepted, then testing, implementing and spreading, as the network learns; or abandoned. Say why.',
      init: () => ({ node: '', stage: 'testing', reason: '' }),
      fields: [['node', 'Change idea', 'select', { '': '—', ...Object.fromEntries(live.map((x) => [x.id, `${x.title} (${x.stage})`])) }],
        ['stage', 'Stage', 'select', { accepted: 'Accepted', testing: 'Testing', implementing: 'Implementing', spreading: 'Spreading', abandoned: 'Abandoned' }],
        ['reason', 'Why']],
      button: 'Move it', ifMatch: version, path: (v) => `${net}/change-ideas/${enc(v.node || 'none')}/stage`,
      body: (v) => ({ stage: v.stage, reason: v.reason.trim() }), done: (ans, v) => `Moved to ${v.stage}.` });

    const editForm = apiForm({ prefix: 'rw', dated: true, title: 'Reword or retire a node', open: false,
      intro: 'Rewording keeps the node\'s history; a retired node stays on record, off the diagram.',
      init: () => ({ node: '', title: '', definition: '', reason: '', action: 'reword' }),
      fields: [['node', 'Node', 'select', { '': '—', ...options(nodes) }], ['action', 'Change', 'select', { reword: 'Reword it', retire: 'Retire it' }],
        ['title', 'New title (to reword)'], ['definition', 'New definition (optional)', 'textarea'], ['reason', 'Why']],
      button: 'Record the change', ifMatch: version,
      path: (v) => `${net}/nodes/${enc(v.node || 'none')}/${v.action === 'retire' ? 'retire' : 'reword'}`,
      body: (v) => (v.action === 'retire' ? { reason: v.reason.trim() } : { title: v.title.trim(), definition: v.definition.trim(), reason: v.reason.trim() }),
      done: (ans, v) => (v.action === 'retire' ? 'Retired.' : 'Reworded.') });

    const proposed = of('change_idea').filter((x) => x.stage === 'proposed');
    const decide = (x, verb) => async (ev) => {
      if (ev) ev.preventDefault();
      const reason = verb === 'decline' ? ev.target.querySelector('input').value.trim() : '';
      const { ok, answer } = await apiPost(`${net}/change-ideas/${enc(x.id)}/${verb}`, verb === 'decline' ? { reason } : {}, crypto.randomUUID(), version);
      state.notice = ok ? null : `“${x.title}” was not ${verb === 'decline' ? 'declined' : 'accepted'}: ${(answer && answer.errors && answer.errors[0] && answer.errors[0].message) || (answer && answer.detail) || 'refused'}.`;
      render(true);
    };

    const ecoForm = apiForm({ prefix: 'eco', dated: true, title: 'Add an ecosystem', open: ecosystems.length ? false : undefined,
      intro: 'A regional ecosystem the network\'s programs belong to.',
      init: () => ({ name: '', region: '' }), fields: [['name', 'Name'], ['region', 'Region']],
      button: 'Add the ecosystem', path: `${net}/ecosystems`,
      body: (v) => ({ name: v.name.trim(), region: v.region.trim() }), done: (ans, v) => `Added “${v.name.trim()}”.` });
    const enrolForm = apiForm({ prefix: 'en', dated: true, title: 'Enrol a program',
      init: () => ({ name: '', ecosystem_id: '' }),
      fields: [['name', 'Program name'], ['ecosystem_id', 'Ecosystem', 'select', { '': '—', ...Object.fromEntries(ecosystems.map((e) => [e.id, `${e.name} (${e.region})`])) }]],
      button: 'Enrol the program', path: `${net}/programs`,
      body: (v) => ({ name: v.name.trim(), ecosystem_id: v.ecosystem_id || null }), done: (ans, v) => `Enrolled “${v.name.trim()}”.` });

    const withdrawForm = apiForm({ prefix: 'wd', dated: true, title: 'Withdraw a program', open: false,
      intro: 'The program leaves the network; its record stays. Its personal text is erased after the network\'s retention period, if one is set.',
      init: () => ({ program: '', reason: '' }),
      fields: [['program', 'Program', 'select', { '': '—', ...options(programs.items || []) }], ['reason', 'Why']],
      button: 'Withdraw the program', path: (v) => `/api/v1/programs/${enc(v.program || 'none')}/withdraw`,
      body: (v) => ({ reason: v.reason.trim() }), done: () => 'Withdrawn.' });
    const chartForm = apiForm({ prefix: 'rc', title: 'A measure\'s run chart: baseline and phases', open: false,
      intro: 'Freeze the median on the first points as the baseline, or start a new phase after a deliberate change to the process.',
      init: () => ({ measure: '', action: 'baseline', points: '12', from_period: '', label: '', reason: '' }),
      fields: [['measure', 'Measure', 'select', { '': '—', ...options(measures.items || []) }],
        ['action', 'Change', 'select', { baseline: 'Freeze the baseline median', phase: 'Start a new phase' }],
        ['points', 'Points in the baseline', 'text', null, { inputmode: 'numeric' }],
        ['from_period', 'The new phase starts with the period (e.g. 2025-09)'], ['label', 'The new phase\'s name'], ['reason', 'Why (optional)']],
      button: 'Record the change', path: (v) => `/api/v1/measures/${enc(v.measure || 'none')}/${v.action === 'phase' ? 'phases' : 'baseline'}`,
      body: (v) => (v.action === 'phase' ? { from_period: v.from_period.trim(), label: v.label.trim(), reason: v.reason.trim() }
        : { points: num(v.points), reason: v.reason.trim() }),
      done: (ans, v) => (v.action === 'phase' ? `Started “${v.label.trim()}”.` : 'Baseline frozen.') });
    const cs = n.chart_settings || {};
    const settingsForm = apiForm({ prefix: 'cs', title: 'Charts: reporting deadline and control-chart rules', open: false,
      intro: 'Until the deadline passes, a network point missing a program\'s report is provisional: drawn hollow, out of the median and the rules.',
      init: () => ({ reporting_deadline_days: String(cs.reporting_deadline_days ?? 20), control_rules: cs.control_rules || 'health_care_data_guide', reason: '' }),
      fields: [['reporting_deadline_days', 'Days after a period ends that programs have to report it', 'text', null, { inputmode: 'numeric' }],
        ['control_rules', 'Control-chart rules', 'select', { health_care_data_guide: 'The Health Care Data Guide (IHI)', making_data_count: 'NHS Making Data Count', shewhart: 'Shewhart (beyond the limits only)' }],
        ['reason', 'Why (optional)']],
      button: 'Set them', path: `${net}/chart-settings`, ifMatch: version,
      body: (v) => ({ reporting_deadline_days: num(v.reporting_deadline_days), control_rules: v.control_rules, reason: v.reason.trim() }),
      done: () => 'Chart settings recorded.' });
    const retentionForm = apiForm({ prefix: 'rt', title: 'Personal data: how long a withdrawn program\'s text is kept', open: false,
      intro: 'After this many days from a program\'s withdrawal, the server erases its personal free text (names and what people wrote); numbers and the shared vocabulary stay. Empty: kept until erased by hand.',
      init: () => ({ withdrawn_program_text_days: n.retention_days != null ? String(n.retention_days) : '' }),
      fields: [['withdrawn_program_text_days', 'Days', 'text', null, { inputmode: 'numeric' }]],
      button: 'Set the retention', path: `${net}/retention`, ifMatch: version,
      body: (v) => ({ withdrawn_program_text_days: num(v.withdrawn_program_text_days) }),
      done: (ans, v) => (v.withdrawn_program_text_days.trim() ? `Kept for ${v.withdrawn_program_text_days.trim()} days after a withdrawal.` : 'Kept until erased by hand.') });
    const measureForm = apiForm({ prefix: 'me', dated: true, title: 'Define a measure', open: (measures.items || []).length ? false : undefined,
      intro: 'Its operational definition, as every program will read it beside its data.',
      init: () => ({ name: '', kind: 'outcome', description: '', data_type: 'proportion', numerator: '', denominator: '', unit: 'percent', period: 'month', direction: 'up', target: '' }),
      fields: [['name', 'Name'], ['kind', 'Kind', 'select', { outcome: 'Outcome', process: 'Process', balancing: 'Balancing' }],
        ['description', 'Operational definition', 'textarea'],
        ['data_type', 'Data', 'select', { proportion: 'Proportion (numerator of denominator)', rate: 'Rate (events per exposure)', count: 'Count', measurement: 'Measurement', percentage: 'Percentage (a value)' }],
        ['numerator', 'Numerator (for a proportion or a rate)'], ['denominator', 'Denominator (for a proportion or a rate)'],
        () => h('div', { class: 'row' }, control3('me', 'unit', 'Unit'), control3('me', 'period', 'Reported each', 'select', { month: 'Month', week: 'Week', term: 'Term' }),
          control3('me', 'direction', 'Better is', 'select', { up: 'Higher', down: 'Lower' }), control3('me', 'target', 'Target (optional)'))],
      button: 'Define the measure', path: `${net}/measures`,
      body: (v) => {
        const ratio = v.data_type === 'proportion' || v.data_type === 'rate';
        return { name: v.name.trim(), kind: v.kind, description: v.description.trim(), data_type: v.data_type, scale: ratio ? 'ratio' : 'value',
          ...(ratio ? { numerator: v.numerator.trim(), denominator: v.denominator.trim() } : {}),
          unit: v.unit.trim(), period: v.period, direction: v.direction, target: num(v.target) };
      },
      done: (ans, v) => `Defined “${v.name.trim()}”.` });

    const standardForm = apiForm({ prefix: 'sd', dated: true, title: 'Define a quality standard', open: false,
      intro: 'A standard programs rate themselves against (1 not yet, 2 developing, 3 meets, 4 exemplary).',
      init: () => ({ code: '', title: '', description: '' }),
      fields: [['code', 'Code (e.g. S1)'], ['title', 'Title'], ['description', 'What meeting it looks like', 'textarea']],
      button: 'Define the standard', path: `${net}/standards`,
      body: (v) => ({ code: v.code.trim(), title: v.title.trim(), description: v.description.trim() }), done: (ans, v) => `Defined ${v.code.trim()}.` });

    const register = await api(`${net}/pdsa-register`, { limit: 500, sort: 'newest' });
    const cited = register.rows.map((row) => ({ id: row.cycle.cycle_id, title: `${row.cycle.title} (${row.program.title}, ${row.cycle.phase})` }));
    const synthesisForm = apiForm({ prefix: 'sy', dated: true, title: 'Write a synthesis', open: false,
      intro: 'What the network has learned, with the cycles, measures and parts of the driver diagram it rests on.',
      init: () => ({ title: '', statement: '', recommendation: '', cycle_ids: [], measure_ids: [], node_ids: [] }),
      fields: [['title', 'Title'], ['statement', 'What we learned', 'textarea'], ['recommendation', 'What we recommend', 'textarea'],
        (f) => checkGroup('sy', 'cycle_ids', 'Cycles it rests on', cited, f.v.cycle_ids, f.errors['cycle_ids']),
        (f) => checkGroup('sy', 'measure_ids', 'Measures', measures.items || [], f.v.measure_ids, f.errors['measure_ids']),
        (f) => checkGroup('sy', 'node_ids', 'Drivers and change ideas', nodes, f.v.node_ids, f.errors['node_ids'])],
      button: 'Publish the synthesis', path: `${net}/syntheses`,
      body: (v) => ({ title: v.title.trim(), statement: v.statement.trim(), recommendation: v.recommendation.trim(),
        cycle_ids: v.cycle_ids, measure_ids: v.measure_ids, node_ids: v.node_ids }),
      done: (ans, v) => `Published “${v.title.trim()}”.` });
    const nodeItem = (x) => h('li', null, h('span', { class: 'badge' }, KIND_WORDS[x.kind]), ' ', h('strong', null, x.title),
      x.stage ? h('span', { class: 'muted small' }, ` · ${x.stage}`) : null,
      served(x.id).length ? h('span', { class: 'muted small' }, ` → serves ${served(x.id).map((l) => `${l.node.title}${l.strength === 'weak' ? ' (weak)' : ''}`).join(', ')}`) : null);
    return h('div', null,
      h('section', { class: 'card', 'aria-labelledby': 'hub-h' },
        h('h1', { id: 'hub-h' }, `Network setup: ${n.name}`),
        h('p', { class: 'muted small' }, 'The hub\'s records, edited in place. Every change is an event in the ledger; nothing is overwritten.'),
        notice ? h('p', { class: 'banner', role: 'alert', id: 'hub-notice' }, notice) : null,
        a ? h('p', { class: 'aim', id: 'hub-aim' }, a.statement) : h('p', { class: 'muted' }, 'No aim yet.'),
        aimForm),
      h('section', { class: 'card', 'aria-labelledby': 'hub-dd-h' },
        h('h2', { id: 'hub-dd-h' }, 'Driver diagram'),
        nodes.length ? h('ul', { class: 'nodes', id: 'hub-nodes' }, [...of('primary'), ...of('secondary'), ...of('change_idea')].map(nodeItem))
          : h('p', { class: 'muted' }, 'No drivers yet: start with a primary driver.'),
        proposed.length ? [h('h3', null, 'Proposed change ideas'), h('ul', { id: 'hub-proposed', class: 'nodes' }, proposed.map((x) => h('li', null,
          h('strong', null, x.title), x.proposed_by_program ? h('span', { class: 'muted small' }, ' · proposed by a program') : null, ' ',
          h('button', { type: 'button', onclick: decide(x, 'accept') }, `Accept “${x.title}”`),
          h('form', { class: 'inline-form', onsubmit: decide(x, 'decline') },
            h('label', { class: 'inline', for: `dec-${x.id}` }, 'Why not'), h('input', { id: `dec-${x.id}` }),
            h('button', { type: 'submit' }, `Decline “${x.title}”`)))))] : null,
        h('div', { class: 'parts' }, driverForm, ideaForm), linkForm, stageForm, editForm),
      h('section', { class: 'card', 'aria-labelledby': 'hub-pr-h' },
        h('h2', { id: 'hub-pr-h' }, 'Programs and ecosystems'),
        h('p', null, ecosystems.length ? `Ecosystems: ${ecosystems.map((e) => `${e.name} (${e.region})`).join(', ')}.` : 'No ecosystem yet: a program is enrolled in one.'),
        h('p', null, (programs.items || []).length ? ['Programs: ', (programs.items || []).map((p, i) => [i ? ', ' : '', h('a', { href: `#/programs/${enc(p.id)}` }, p.title)])] : 'No program yet.'),
        h('div', { class: 'parts' }, ecoForm, ecosystems.length ? enrolForm : null), (programs.items || []).length ? withdrawForm : null),
      h('section', { class: 'card', 'aria-labelledby': 'hub-me-h' },
        h('h2', { id: 'hub-me-h' }, 'Measures and standards'),
        h('p', null, (measures.items || []).length ? ['Measures: ', (measures.items || []).map((m, i) => [i ? ', ' : '', h('a', { href: `#/measures/${enc(m.id)}` }, m.title)])] : 'No measure yet.'),
        h('p', null, standards.length ? `Standards: ${standards.map((x) => `${x.code} ${x.title}`).join('; ')}.` : 'No quality standard yet.'),
        measureForm, (measures.items || []).length ? chartForm : null, settingsForm, standardForm, retentionForm),
      h('section', { class: 'card', 'aria-labelledby': 'hub-sy-h' },
        h('h2', { id: 'hub-sy-h' }, 'Syntheses'),
        h('p', null, h('a', { href: '#/syntheses' }, 'What the network has learned so far'), '.'),
        synthesisForm),
      h('section', { class: 'card', 'aria-label': 'Another network' }, charterForm(false)));
  }

  // A field of an apiForm laid out in a row (its state is the form's).
  function control3(prefix, p, text, kind, options) {
    const f = state.forms[prefix];
    return formField(prefix, p, text, f.errors[fieldKey(p)], () => f.v[p], (x) => { f.v[p] = x; }, kind, options,
      kind ? {} : { inputmode: /target|baseline/.test(p) ? 'decimal' : null });
  }

  const ROLES = { facilitator: 'Facilitator (records for its programs)', admin: 'Admin (the hub)', improvement_scientist: 'Improvement scientist (reads, replays, exports)',
    viewer: 'Viewer (a dashboard)', admissions: 'Admissions office (its programs\' statements)' };

  // People: the tokens that open the ledger; a new one is shown once, with its sign-in link.
  async function viewPeople() {
    if (!state.me || state.me.role !== 'admin') return h('div', { class: 'card' }, h('h1', null, 'People'), h('p', null, 'Tokens are managed by the hub: this needs an admin\'s token.'));
    const [tokens, programs] = await Promise.all([api('/api/v1/tokens'), state.networkId ? api(`${netPath()}/programs`) : { items: [] }]);
    const names = Object.fromEntries((programs.items || []).map((p) => [p.id, p.title]));
    const issued = state.issued;
    const notice = state.notice;
    state.notice = null;
    const form = apiForm({ prefix: 'tk', title: 'Give someone access',
      intro: 'A token for one person, with a role. It is shown once: copy it or its sign-in link and send it to them privately.',
      init: () => ({ name: '', role: 'facilitator', programs: [] }),
      fields: [['name', 'Their name (e.g. Ana, Lab Explorers)'], ['role', 'Role', 'select', ROLES],
        (f) => checkGroup('tk', 'programs', 'Programs (for a facilitator or an admissions office)', programs.items || [], f.v.programs, f.errors.programs)],
      button: 'Create the token', path: '/api/v1/tokens',
      body: (v) => ({ name: v.name.trim(), role: v.role, programs: ['facilitator', 'admissions'].includes(v.role) ? v.programs : [] }),
      done: (ans) => { state.issued = { ...ans, link: `${location.origin}${ans.sign_in}` }; return `Created a token for ${ans.name}.`; } });
    const copy = (text, what) => async (ev) => {
      try { await navigator.clipboard.writeText(text); ev.target.textContent = `Copied the ${what}`; } catch (_) {
        const input = ev.target.parentElement.querySelector('input');
        if (input) { input.select(); } ev.target.textContent = 'Select and copy it by hand';
      }
    };
    // Erasing a person: what would go is listed first (a dry run); then, confirmed, their name
    // and everything they wrote read "[erased]" everywhere, and their token is revoked.
    const erase = (t, confirm) => async (ev) => {
      ev.preventDefault();
      const form = ev.target.closest('form');
      const reference = form.querySelector('input').value.trim();
      const body = { subject: { kind: 'person', token_id: t.token_id }, basis: 'request', dry_run: !confirm, ...(reference ? { reference } : {}) };
      const { ok, answer } = await apiPost('/api/v1/erasures', body, crypto.randomUUID());
      if (!ok) { state.notice = (answer && answer.detail) || 'Refused.'; render(true); return; }
      state.erasing = confirm ? null : { token_id: t.token_id, name: t.name, reference, report: answer };
      state.notice = confirm ? `Erased ${answer.fields} field${answer.fields === 1 ? '' : 's'} in ${answer.events} event${answer.events === 1 ? '' : 's'}: ${t.name}'s personal data reads “[erased]” from now on.` : null;
      render(true);
    };
    const erasing = state.erasing;
    const revoke = (t) => async (ev) => {
      ev.preventDefault();
      const reason = ev.target.querySelector('input').value.trim();
      const { ok, answer } = await apiPost(`/api/v1/tokens/${enc(t.token_id)}/revoke`, { reason }, crypto.randomUUID());
      state.notice = ok ? `Revoked ${t.name}'s token: it opens nothing from now on.` : ((answer && answer.detail) || 'Refused.');
      if (ok && state.issued && state.issued.token_id === t.token_id) state.issued = null;
      render(true);
    };
    return h('div', null,
      h('section', { class: 'card', 'aria-labelledby': 'pe-h' },
        h('h1', { id: 'pe-h' }, 'People'),
        h('p', { class: 'muted small' }, 'Who may open the ledger, and what for. The ledger keeps only a hash of each token.'),
        notice ? h('p', { role: 'status', id: 'pe-notice' }, notice) : null,
        issued ? h('div', { class: 'issued', id: 'pe-issued', role: 'region', 'aria-label': 'The new token' },
          h('p', null, h('strong', null, `${issued.name}'s token`), ' — shown this once.'),
          h('label', { for: 'pe-token' }, 'Token'), h('div', { class: 'copy' }, h('input', { id: 'pe-token', readonly: true, value: issued.token, spellcheck: 'false' }),
            h('button', { type: 'button', onclick: copy(issued.token, 'token') }, 'Copy the token')),
          h('label', { for: 'pe-link' }, 'Sign-in link'), h('div', { class: 'copy' }, h('input', { id: 'pe-link', readonly: true, value: issued.link, spellcheck: 'false' }),
            h('button', { type: 'button', onclick: copy(issued.link, 'link') }, 'Copy the link')),
          h('p', { class: 'small muted' }, 'The link carries the token after #, which no browser sends to a server; opening it signs in and takes the token out of the address bar.'),
          h('button', { type: 'button', id: 'pe-done', onclick: () => { state.issued = null; render(true); } }, 'Done: hide it')) : null,
        form),
      h('section', { class: 'card', 'aria-labelledby': 'pe-list-h' },
        h('h2', { id: 'pe-list-h' }, `Tokens (${tokens.items.length})`),
        h('div', { class: 'scroll' }, h('table', { id: 'pe-table' },
          h('thead', null, h('tr', null, ['Name', 'Role', 'Programs', 'Status', ''].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', null, tokens.items.map((t) => h('tr', null,
            h('th', { scope: 'row' }, t.name), h('td', null, label(t.role)),
            h('td', null, t.programs.map((p) => names[p] || 'another network\'s program').join(', ') || '—'),
            h('td', null, t.revoked ? 'revoked' : 'live'),
            h('td', null, t.revoked || t.token_id === state.me.token_id ? null : h('form', { class: 'inline-form', onsubmit: revoke(t) },
              h('label', { class: 'inline', for: `pe-why-${t.token_id}` }, 'Why'),
              h('input', { id: `pe-why-${t.token_id}`, placeholder: 'e.g. left the program' }),
              h('button', { type: 'submit' }, `Revoke ${t.name}`)))))))),
        h('p', { class: 'small muted' }, 'The ledger\'s record stays whole: revoking ends a token\'s access; erasing also makes a person\'s name and what they wrote unreadable, everywhere and as of any time.')),
      h('section', { class: 'card', 'aria-labelledby': 'pe-er-h' },
        h('h2', { id: 'pe-er-h' }, 'Erase a person\'s data'),
        h('p', { class: 'muted small' }, 'At their request: first see what would go, then confirm. The erasure is recorded (who, when, why, the reference), never what was erased.'),
        erasing ? h('div', { class: 'issued', id: 'pe-erase-preview' },
          h('p', null, h('strong', null, `${erasing.name}: ${erasing.report.fields} field${erasing.report.fields === 1 ? '' : 's'} in ${erasing.report.events} event${erasing.report.events === 1 ? '' : 's'} would be erased.`)),
          h('p', { class: 'small' }, erasing.report.kept),
          h('form', { class: 'inline-form', onsubmit: erase(tokens.items.find((x) => x.token_id === erasing.token_id) || { token_id: erasing.token_id, name: erasing.name }, true) },
            h('input', { type: 'hidden', value: erasing.reference }),
            h('button', { type: 'submit', class: 'primary', id: 'pe-erase-confirm' }, `Erase ${erasing.name}'s data`),
            h('button', { type: 'button', id: 'pe-erase-cancel', onclick: () => { state.erasing = null; render(true); } }, 'Cancel'))) : null,
        h('ul', { class: 'nodes', id: 'pe-erase' }, tokens.items.filter((t) => t.token_id !== state.me.token_id).map((t) => h('li', null,
          h('form', { class: 'inline-form', onsubmit: erase(t, false) },
            h('strong', null, t.name), ' ',
            h('label', { class: 'inline', for: `pe-ref-${t.token_id}` }, '· request reference'),
            h('input', { id: `pe-ref-${t.token_id}`, placeholder: 'e.g. ticket 2291' }),
            h('button', { type: 'submit' }, `See what erasing ${t.name} would take`)))))));
  }

  // The views a replay applies to; the others stay live.
  const REPLAYED = ['diagram', 'timeline', 'measures', 'programs'];

  const VIEWS = {
    overview: viewOverview,
    diagram: viewDiagram,
    timeline: viewTimeline,
    measures: viewMeasures,
    programs: viewPrograms,
    register: viewRegister,
    standards: viewStandards,
    syntheses: viewSyntheses,
    mine: viewMine,
    cycles: viewCycle,
    hub: viewHub,
    people: viewPeople,
  };

  // -------------------------------------------------------------------------------------------
  // Live: the read models' messages as server-sent events, read with fetch() so the token stays
  // in a header. One stream serves every tab of the page: the tab holding a Web Lock reads it and
  // passes each message to the others over a BroadcastChannel; when it closes, another tab takes
  // the lock and goes on from the last position it saw. Ten open tabs hold one connection, not
  // ten of the browser's six per host. Without Web Locks (a page not served over HTTPS or from
  // localhost), each tab reads its own stream.

  function setLiveStatus(s2, text) {
    const el = $('live-status');
    el.dataset.state = s2;
    el.textContent = text;
  }

  async function startLive() {
    if (state.live) state.live.abort();
    const ctrl = new AbortController();
    state.live = ctrl;
    // Where this tab's view stands, so that a tab taking over the stream goes on from there.
    if (state.lastEventId === null) {
      try { state.lastEventId = (await api('/api/v1/projections')).head; } catch (_) { /* read again by readLive */ }
    }
    if (ctrl.signal.aborted) return;
    if (!navigator.locks || typeof BroadcastChannel === 'undefined') { readLive(ctrl, null); return; }
    const name = `nic-ledger.live.${state.me.token_id}`;
    const channel = new BroadcastChannel(name);
    let leading = false;
    channel.onmessage = (ev) => {
      const m = ev.data || {};
      if (m.kind === 'hello') { if (leading) channel.postMessage({ kind: 'status', state: $('live-status').dataset.state, text: $('live-status').textContent, id: state.lastEventId }); return; }
      if (!leading) deliver(m);
    };
    ctrl.signal.addEventListener('abort', () => channel.close());
    setLiveStatus('down', 'Connecting…');
    channel.postMessage({ kind: 'hello' });
    navigator.locks.request(name, { signal: ctrl.signal }, async () => {
      leading = true;
      await readLive(ctrl, channel);
    }).catch(() => { /* aborted: signed out, or another token */ });
  }

  // A message of the stream, in this tab: the feed and the view follow it.
  function deliver(m) {
    if (m.kind === 'status') {
      setLiveStatus(m.state, m.text);
      if (typeof m.id === 'number' && (state.lastEventId === null || m.id > state.lastEventId)) state.lastEventId = m.id;
    }
    else if (m.kind === 'refresh') { if (m.id !== null) state.lastEventId = m.id; onReplaced(); } else if (m.kind === 'moved') {
      if (m.id !== null) state.lastEventId = m.id;
      onMoved(m.data);
    }
  }

  // Reads the stream until `ctrl` aborts, reconnecting with backoff; each message is delivered
  // here and, when `channel` is given, to the other tabs.
  async function readLive(ctrl, channel) {
    const send = (m) => {
      deliver(m);
      if (channel && !ctrl.signal.aborted) channel.postMessage(m);
    };
    let backoff = 500;
    while (!ctrl.signal.aborted) {
      try {
        if (state.lastEventId === null) state.lastEventId = (await api('/api/v1/projections')).head;
        const res = await fetch(`/api/v1/live/timeline?after=${state.lastEventId}`, {
          headers: { Authorization: `Bearer ${state.token}`, Accept: 'text/event-stream' },
          cache: 'no-store',
          signal: ctrl.signal,
        });
        if (res.status === 401) { forgetToken('The token was refused (unknown or revoked). Enter another one.'); return; }
        if (!res.ok || !res.body) throw new Error(`live feed: ${res.status}`);
        send({ kind: 'status', state: 'live', text: 'Live' });
        backoff = 500;
        await readEvents(res.body, ctrl.signal, send);
      } catch (e) {
        if (ctrl.signal.aborted) return;
      }
      send({ kind: 'status', state: 'down', text: 'Reconnecting…' });
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10000);
    }
  }

  async function readEvents(body, signal, send) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let id = null; let type = 'message'; const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue; // keep-alive
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'id') id = val;
          else if (field === 'event') type = val;
          else if (field === 'data') data.push(val);
        }
        const position = id === null ? null : Number(id);
        if (type === 'refresh') {
          send({ kind: 'refresh', id: position });
        } else if (data.length) {
          let parsed = null;
          try { parsed = JSON.parse(data.join('\n')); } catch (_) { /* not a message */ }
          if (parsed) send({ kind: 'moved', id: position, data: parsed });
        } else if (position !== null) state.lastEventId = position;
      }
    }
  }

  // The read models were replaced whole (a rebuild, an erasure): the feed may quote text that is
  // erased now, so it is emptied, and the view is read again.
  function onReplaced() {
    $('live-feed').replaceChildren();
    scheduleRefresh();
  }

  // The read models moved on: the new timeline entries go into the feed, the view is refreshed.
  function onMoved(msg) {
    const entries = msg.entries || [];
    if (entries.some((e) => e.event_type === 'NetworkChartered')) {
      refreshNetworks().then(() => { if (route().view === 'overview') scheduleRefresh(); }, () => {});
    }
    const feed = $('live-feed');
    for (const e of entries) {
      const href = e.cycle_id ? `#/cycles/${enc(e.cycle_id)}`
        : e.measure_id ? `#/measures/${enc(e.measure_id)}` : null;
      const sentence = h('span', { class: 'what' }, e.sentence);
      feed.prepend(h('li', { class: 'fresh', 'data-position': e.position },
        // A signal is told on the data point that showed it: it is labelled as what it is.
        h('span', { class: 'type' }, e.kind === 'signal' ? 'Signal' : humanType(e.event_type)),
        href ? h('a', { href }, sentence) : sentence, ' ',
        h('time', { datetime: e.recorded_at }, fmtTime(e.recorded_at))));
    }
    while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
    scheduleRefresh();
  }

  // -------------------------------------------------------------------------------------------
  // Start

  function init() {
    tokenFromLink();
    $('token-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const t = $('token-input').value.trim();
      if (!t) return;
      $('token-error').textContent = '';
      try { await useToken(t); } catch (e) {
        if (!(e instanceof ApiError && e.status === 401)) $('token-error').textContent = e.message;
      }
    });
    $('forget-token').addEventListener('click', () => forgetToken(''));
    $('network-select').addEventListener('change', (ev) => {
      state.networkId = ev.target.value;
      try { localStorage.setItem(NETWORK_KEY, state.networkId); } catch (_) { /* ignore */ }
      render(false);
    });
    $('replay-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = $('replay-at').value;
      if (!v) { $('replay-at').focus(); return; }
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) return;
      // The network's clock takes the day typed; the ledger's, the moment.
      state.asOf = $('replay-clock').value === 'happened' ? v.slice(0, 10) : d.toISOString();
      if (!REPLAYED.includes(route().view)) location.hash = '#/diagram';
      else render(false);
    });
    $('replay-live').addEventListener('click', () => {
      state.asOf = null;
      $('replay-at').value = '';
      render(false);
    });
    window.addEventListener('hashchange', () => {
      if (/^#token=/.test(location.hash)) { tokenFromLink(); boot(); return; }
      render(false);
    });
    boot();
  }

  function boot() {
    let token = null;
    try { token = localStorage.getItem(TOKEN_KEY); } catch (_) { /* ignore */ }
    if (!token) { forgetToken(''); return; }
    useToken(token).catch((e) => {
      if (!(e instanceof ApiError && e.status === 401)) {
        $('token-panel').hidden = false;
        $('token-error').textContent = `Could not reach the API: ${e.message}`;
      }
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
