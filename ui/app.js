// The dashboard's logic: polls this node's API, renders the members, keeps a short history
// for the charts (uPlot, loaded before this module as the global `uPlot`), and notes every
// change of leader or term it sees. Plain browser JavaScript, no build step.

const pollMs = 500;
const metricsEveryPolls = 2;
/** Points kept per chart: two minutes at one point per poll. */
const historyMax = 240;

const state = {
  /** `user:password` in base64 for HTTP Basic, kept for this tab only. */
  auth: sessionStorage.getItem('tandem-auth'),
  polls: 0,
  /** The last leader seen (kept across the moments without one) and its term. */
  lastLeader: null,
  lastTerm: undefined,
  leaderless: false,
  /** [time (s), ...one value per series] per chart. */
  lag: { names: [], rows: [] },
  rates: [],
  latency: [],
  previousMetrics: null,
  charts: {},
};

const $ = (selector) => document.querySelector(selector);

/** Calls this node's API; shows the sign-in form on 401. */
async function api(path, options = {}) {
  const headers = { ...(options.headers ?? {}) };
  if (state.auth !== null) headers.authorization = `Basic ${state.auth}`;
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    $('#signin').hidden = false;
    throw new Error('sign in to see this cluster');
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try {
      message = JSON.parse(text).message ?? text;
    } catch {
      // not JSON: the text itself
    }
    throw new Error(`${response.status}: ${message}`);
  }
  return options.raw === true ? text : JSON.parse(text);
}

/** The leader's view (every member's lag), else this node's own while there is no leader. */
async function clusterView() {
  try {
    return await api('/v1/cluster?view=leader');
  } catch (error) {
    if (error.message.startsWith('sign in')) throw error;
    return api('/v1/cluster');
  }
}

function roleOf(view, member) {
  if (member.id === view.leaderId) return 'leader';
  return view.membership.learners.includes(member.id) ? 'learner' : 'follower';
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className !== undefined) td.className = className;
  return td;
}

function renderMembers(view) {
  const body = $('#members tbody');
  body.replaceChildren();
  for (const member of view.members) {
    const row = document.createElement('tr');
    const role = roleOf(view, member);
    row.dataset.member = member.id;
    row.dataset.role = role;
    const health = member.healthy === null ? '?' : member.healthy ? 'healthy' : 'down';
    row.append(
      cell(member.id),
      cell(role),
      cell(health, member.healthy === false ? 'unhealthy' : 'healthy'),
      cell(member.matchIndex ?? '–'),
      cell(member.appliedIndex ?? '–'),
      cell(member.lagEntries ?? '–'),
      cell(member.lastContactMs ?? '–'),
    );
    const stream = document.createElement('td');
    if (member.snapshot !== null) {
      const bar = document.createElement('progress');
      bar.max = member.snapshot.totalBytes;
      bar.value = member.snapshot.sentBytes;
      stream.append(
        bar,
        ` ${Math.round((100 * member.snapshot.sentBytes) / member.snapshot.totalBytes)}%`,
      );
    } else stream.textContent = '–';
    row.append(stream);
    const actions = document.createElement('td');
    if (role !== 'leader' && member.voter)
      actions.append(button('promote', () => promote(member.id)));
    if (role !== 'leader') actions.append(button('remove', () => remove(member.id)));
    row.append(actions);
    body.append(row);
  }
}

function button(label, action) {
  const element = document.createElement('button');
  element.textContent = label;
  element.addEventListener('click', action);
  return element;
}

/**
 * Notes each change the page sees: a new leader (from the last one known, across the
 * moments without one), a new term, a leader lost (an election under way).
 */
function noteLeader(view) {
  const now = new Date().toLocaleTimeString();
  const note = (text) => {
    const item = document.createElement('li');
    item.textContent = `${now}: ${text}`;
    $('#timeline').prepend(item);
  };
  const leader = view.leaderId;
  if (state.lastTerm === undefined) {
    note(`leader ${leader ?? 'none'} (term ${view.term})`);
  } else if (leader === null) {
    if (!state.leaderless) note(`no leader: election (term ${view.term})`);
  } else if (leader !== state.lastLeader) {
    note(`leader ${state.lastLeader ?? 'none'} → ${leader} (term ${view.term})`);
  } else if (view.term !== state.lastTerm) {
    note(`term ${view.term}, leader still ${leader}`);
  }
  state.leaderless = leader === null;
  if (leader !== null) state.lastLeader = leader;
  state.lastTerm = view.term;
}

function renderSummary(view) {
  $('#served-by').textContent = location.host;
  $('#leader').textContent = view.leaderId ?? 'none';
  $('#term').textContent = String(view.term);
  $('#mode').textContent = view.durability;
  $('#commit').textContent = String(view.commitIndex);
  $('#freshness').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

/** Sums a metric's samples (all label sets) in Prometheus text. */
function metricSum(text, name) {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{'))
      continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) {
      sum += value;
      found = true;
    }
  }
  return found ? sum : null;
}

function push(series, row) {
  series.push(row);
  if (series.length > historyMax) series.shift();
}

async function sampleMetrics() {
  const text = await api('/metrics', { raw: true });
  const now = Date.now() / 1000;
  const sample = {
    at: now,
    applied: metricSum(text, 'tandem_applied_entries_total'),
    requests: metricSum(text, 'tandem_http_requests_total'),
    fsyncSum: metricSum(text, 'tandem_fsync_seconds_sum'),
    fsyncCount: metricSum(text, 'tandem_fsync_seconds_count'),
    applySum: metricSum(text, 'tandem_apply_seconds_sum'),
    applyCount: metricSum(text, 'tandem_apply_seconds_count'),
  };
  const before = state.previousMetrics;
  state.previousMetrics = sample;
  if (before === null) return;
  const seconds = sample.at - before.at;
  const rate = (a, b) => (a === null || b === null ? null : (a - b) / seconds);
  const mean = (sum, count, sum0, count0) =>
    count === null || count0 === null || count === count0
      ? null
      : (1000 * (sum - sum0)) / (count - count0);
  push(state.rates, [
    now,
    rate(sample.applied, before.applied),
    rate(sample.requests, before.requests),
  ]);
  push(state.latency, [
    now,
    mean(sample.fsyncSum, sample.fsyncCount, before.fsyncSum, before.fsyncCount),
    mean(sample.applySum, sample.applyCount, before.applySum, before.applyCount),
  ]);
}

function recordLag(view) {
  const followers = view.members.filter((member) => member.id !== view.leaderId).map((m) => m.id);
  if (followers.join() !== state.lag.names.join()) state.lag = { names: followers, rows: [] };
  const byId = new Map(view.members.map((member) => [member.id, member]));
  const now = Date.now() / 1000;
  push(state.lag.rows, [
    now,
    ...followers.map((id) => byId.get(id).lagEntries),
    ...followers.map((id) => byId.get(id).lastContactMs),
  ]);
}

const palette = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bf8700', '#57606a'];

/** Draws (or redraws) a chart of `rows` ([time, ...values]) into `selector`. */
function draw(key, selector, names, rows) {
  const columns = [
    rows.map((row) => row[0]),
    ...names.map((_, i) => rows.map((row) => row[i + 1])),
  ];
  const element = $(selector);
  const width = Math.max(300, element.clientWidth);
  let chart = state.charts[key];
  if (chart !== undefined && chart.series.length !== names.length + 1) {
    chart.destroy();
    chart = undefined;
  }
  if (chart === undefined) {
    chart = new uPlot(
      {
        width,
        height: 180,
        series: [
          {},
          ...names.map((name, i) => ({
            label: name,
            stroke: palette[i % palette.length],
            width: 2,
          })),
        ],
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } },
      },
      columns,
      element,
    );
    state.charts[key] = chart;
  } else chart.setData(columns);
}

function drawCharts() {
  const names = state.lag.names;
  const rows = state.lag.rows;
  draw(
    'lag-entries',
    '#chart-lag-entries',
    names,
    rows.map((row) => row.slice(0, names.length + 1)),
  );
  draw(
    'lag-ms',
    '#chart-lag-ms',
    names,
    rows.map((row) => [row[0], ...row.slice(names.length + 1)]),
  );
  draw('rates', '#chart-rates', ['entries applied/s', 'HTTP requests/s'], state.rates);
  draw('latency', '#chart-latency', ['fdatasync ms', 'apply ms'], state.latency);
}

/** Every member's chunk files and repairs, asked of this node (which asks each member). */
async function renderBlobs() {
  const { nodes } = await api('/v1/cluster/blobs?view=cluster');
  const body = $('#blobs tbody');
  body.replaceChildren();
  for (const node of nodes) {
    const row = document.createElement('tr');
    row.dataset.node = node.node;
    if (!node.reachable) {
      row.append(cell(node.node), cell('not reachable', 'unhealthy'));
    } else {
      const mib = (node.bytesHeld / (1024 * 1024)).toFixed(1);
      const last =
        node.lastRepairAtMs === null ? '–' : new Date(node.lastRepairAtMs).toLocaleTimeString();
      row.append(
        cell(node.node),
        cell(String(node.chunksHeld)),
        cell(mib),
        cell(String(node.chunksMissing), node.chunksMissing > 0 ? 'unhealthy' : undefined),
        cell(String(node.chunksRepaired)),
        cell(String(node.staleDeleted)),
        cell(String(node.corruptFound), node.corruptFound > 0 ? 'unhealthy' : undefined),
        cell(last),
      );
    }
    body.append(row);
  }
}

async function poll() {
  try {
    const view = await clusterView();
    $('#signin').hidden = true;
    renderSummary(view);
    renderMembers(view);
    noteLeader(view);
    recordLag(view);
    if (state.polls++ % metricsEveryPolls === 0) {
      await sampleMetrics();
      await renderBlobs();
    }
    drawCharts();
  } catch (error) {
    $('#freshness').textContent = `not updated: ${error.message}`;
  } finally {
    setTimeout(poll, pollMs);
  }
}

async function operate(what, call) {
  $('#operation').textContent = `${what}…`;
  try {
    await call();
    $('#operation').textContent = `${what}: done`;
  } catch (error) {
    $('#operation').textContent = `${what}: ${error.message}`;
  }
}

const json = (body) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

function promote(id) {
  return operate(`promote ${id}`, () => api('/v1/cluster/promote', json({ id })));
}

function remove(id) {
  if (!confirm(`Remove ${id} from the cluster?`)) return undefined;
  return operate(`remove ${id}`, () =>
    api(`/v1/cluster/members/${encodeURIComponent(id)}`, { method: 'DELETE' }),
  );
}

$('#add-member').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = {
    id: form.get('id'),
    address: form.get('address'),
    learner: form.get('learner') === 'on',
  };
  void operate(`add ${body.id}`, () => api('/v1/cluster/members', json(body)));
});

$('#signin').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  // Basic credentials are the UTF-8 bytes of user:password, in base64.
  const bytes = new TextEncoder().encode(`${form.get('user')}:${form.get('password')}`);
  state.auth = btoa(String.fromCharCode(...bytes));
  sessionStorage.setItem('tandem-auth', state.auth);
  $('#signin-error').textContent = '';
});

void poll();
