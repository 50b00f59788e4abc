// The status page's script: reads /status.json every 2 s and draws it with DOM and SVG calls only
// (textContent, never HTML strings: service and backend names come from configuration or from
// Kubernetes objects, which other people write). No framework, nothing fetched from elsewhere.

const SVG = 'http://www.w3.org/2000/svg';
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const REFRESH_MS = 2000;
let patterns = 0;

function colour(i) {
  if (i < 0) return '#e3e6ea';
  if (i < PALETTE.length) return PALETTE[i];
  return `hsl(${(i * 137.508) % 360}, 55%, 55%)`;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function stateOf(d) {
  if (d.drainingSince !== undefined) return ['draining', `draining ${Math.max(0, Math.round((Date.now() - d.drainingSince) / 1000))} s`];
  if (d.health === 'down') return ['down', 'down (health check)'];
  if (d.weight === 0) return ['zero', 'weight 0'];
  return ['serving', d.health === 'up' ? 'serving, healthy' : 'serving'];
}

function strip(service) {
  const t = service.table;
  // "index:count,index:count;..." (see StatusTable in src/metrics/status.ts).
  const bins = t.bins.split(';').map((bin) => bin.split(',').flatMap((pair) => pair.split(':').map(Number)));
  const width = bins.length;
  const box = svg('svg', { class: 'strip', viewBox: `0 0 ${width} 1`, preserveAspectRatio: 'none', role: 'img', 'data-table-size': t.size, 'data-bin-slots': t.binSlots });
  const defs = svg('defs', {});
  patterns++;
  const hatch = svg('pattern', { id: `hatch-${patterns}`, width: 0.5, height: 0.25, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' });
  hatch.append(svg('rect', { width: 0.25, height: 0.25, fill: '#ffffff', opacity: 0.7 }));
  defs.append(hatch);
  box.append(defs);
  const label = [];
  bins.forEach((bin, x) => {
    let total = 0;
    for (let k = 1; k < bin.length; k += 2) total += bin[k];
    let y = 0;
    for (let k = 0; k < bin.length; k += 2) {
      const idx = bin[k];
      const h = bin[k + 1] / total;
      const d = service.destinations[idx];
      const unavailable = d !== undefined && d.weight === 0;
      const r = svg('rect', { x, y, width: 1.02, height: h, fill: colour(idx), 'data-dest': idx });
      if (unavailable) r.setAttribute('opacity', '0.35');
      box.append(r);
      if (unavailable) box.append(svg('rect', { x, y, width: 1.02, height: h, fill: `url(#${hatch.id})` }));
      y += h;
    }
  });
  const shares = service.destinations.map((d) => `${d.destination} ${d.slots ?? 0}`).join(', ');
  box.setAttribute('aria-label', `Maglev table of ${service.name}: ${t.size} slots; slots per destination: ${shares}`);
  label.push(`${t.size} slots`);
  if (t.binSlots > 1) label.push(`drawn as ${width} columns of ${t.binSlots} consecutive slots; each column is split by the exact share of its slots`);
  return [box, el('div', { class: 'strip-caption' }, label.join('; '))];
}

function serviceSection(s) {
  const sec = el('section', { class: 'service', 'data-service': s.service });
  const h = el('h2', {}, s.name, el('span', { class: 'key' }, s.service), el('span', { class: 'sched' }, [s.scheduler, ...s.flags].join(' ')));
  sec.append(h);
  if (s.quorum) {
    const q = s.quorum;
    const text = q.up
      ? `quorum held (available weight ${q.availableWeight})`
      : `short of quorum (available weight ${q.availableWeight})${q.sorryServerActive ? ': the sorry server takes new connections' : ''}`;
    sec.append(el('p', { class: q.up ? 'quorum state-serving' : 'quorum state-down', 'data-quorum': q.up ? 'up' : 'down', 'data-sorry': q.sorryServerActive ? 'active' : 'off' }, text));
  }
  const mh = s.table !== undefined;
  const head = el('tr', {}, ...['', 'destination', 'weight', 'state', 'active', 'inactive', ...(mh ? ['table slots'] : [])].map((c) => el('th', {}, c)));
  const rows = s.destinations.map((d, i) => {
    const [state, text] = stateOf(d);
    const tr = el('tr', { 'data-destination': d.destination, 'data-weight': d.weight, 'data-state': state, ...(d.slots !== undefined ? { 'data-slots': d.slots } : {}) });
    const sw = el('span', { class: 'swatch' });
    sw.style.background = colour(i);
    tr.append(
      el('td', {}, sw),
      el('td', { class: 'dest' }, d.destination),
      el('td', { class: 'num' }, d.lastWeight !== d.weight ? `${d.weight} (table built with ${d.lastWeight})` : String(d.weight)),
      el('td', { class: `state-${state}` }, text),
      el('td', { class: 'num' }, String(d.activeConns)),
      el('td', { class: 'num' }, String(d.inactiveConns)),
    );
    if (mh) tr.append(el('td', { class: 'num' }, d.slots === undefined ? '' : `${d.slots} (${((100 * d.slots) / s.table.size).toFixed(1)}%)`));
    return tr;
  });
  sec.append(el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
  if (s.moreDestinations > 0) sec.append(el('p', {}, `... and ${s.moreDestinations} more destinations, not listed`));
  if (mh) sec.append(...strip(s));
  if (s.tableError) sec.append(el('p', { class: 'state-down' }, `no table: ${s.tableError}`));
  return sec;
}

function render(snap) {
  const main = document.getElementById('services');
  main.replaceChildren(...snap.services.map(serviceSection));
  if (snap.moreServices > 0) main.append(el('p', {}, `... and ${snap.moreServices} more services, not listed`));
  const summary = document.getElementById('summary');
  const dests = snap.services.reduce((n, s) => n + s.destinations.length, 0);
  summary.textContent = `${snap.services.length} services, ${dests} destinations, as of ${snap.generatedAt}`;
  summary.className = '';
  document.body.dataset.generatedAt = snap.generatedAt;
}

async function refresh() {
  try {
    const res = await fetch('/status.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    render(await res.json());
  } catch (err) {
    const summary = document.getElementById('summary');
    summary.textContent = `cannot read /status.json (${err instanceof Error ? err.message : String(err)}); showing the last state`;
    summary.className = 'stale';
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
