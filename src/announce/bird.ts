import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { runTool, type ToolResult, type ToolRunner } from './exec.ts';
import { AnnounceError, type AnnouncedRoute, type AnnounceConfig, type ApplyOutcome, type BgpPeer, type PeerStatus, type Speaker, type SpeakerStatus } from './types.ts';

// The BIRD 2 driver. ipvs-maglev owns one file, the routes file: two static protocols
// (ipvs_maglev4, ipvs_maglev6) holding a blackhole host route per VIP this node serves. BGP exports
// them (eBGP sets the next hop to this node's own address). Every change is
//   1. written atomically (temp file + rename),
//   2. checked with `bird -p -c <main config>` (BIRD's parse-only mode; a refused file is rolled back),
//   3. applied with `birdc configure`: BIRD reconfigures the static protocols in place, so only the
//      routes that changed are announced or withdrawn and the BGP sessions stay up.
// In managed mode the main configuration (router id, BGP peers, BFD) is rendered too, from lb.yaml.

export const STATIC4 = 'ipvs_maglev4';
export const STATIC6 = 'ipvs_maglev6';
/** First line of every file we render: a file without it is never overwritten. */
export const MANAGED_MARKER = '# Managed by ipvs-maglev';

/** BIRD's quoted strings take no quote, backslash or line break; the schema refuses those already. */
function quoted(text: string): string {
  if (/["\\\n\r]/.test(text)) throw new AnnounceError('SPEAKER_CONFIG', `cannot put ${JSON.stringify(text)} in a BIRD string`);
  return `"${text}"`;
}

export function renderRoutes(routes: readonly AnnouncedRoute[]): string {
  const v4 = routes.filter((r) => r.family === 'inet').map((r) => r.address).sort();
  const v6 = routes.filter((r) => r.family === 'inet6').map((r) => r.address).sort();
  const lines = [
    `${MANAGED_MARKER}: the VIPs this node serves now (${routes.length}). Rewritten on every change; do not edit.`,
    `protocol static ${STATIC4} {`,
    '  ipv4;',
    ...v4.map((a) => `  route ${a}/32 blackhole;`),
    '}',
    `protocol static ${STATIC6} {`,
    '  ipv6;',
    ...v6.map((a) => `  route ${a}/128 blackhole;`),
    '}',
    '',
  ];
  return lines.join('\n');
}

function renderPeer(p: BgpPeer, localAsn: number): string[] {
  const v6 = p.address.includes(':');
  const keepalive = p.keepaliveS ?? Math.max(1, Math.floor(p.holdTimeS / 3));
  return [
    `protocol bgp ${p.name} {`,
    `  local as ${localAsn};`,
    `  neighbor ${p.address} as ${p.asn};`,
    `  hold time ${p.holdTimeS};`,
    `  keepalive time ${keepalive};`,
    // BIRD waits 120 s between connection attempts and 60 s after an error by default: a node back
    // from maintenance (or a router that restarted) would stay dark for minutes.
    '  connect retry time 5;',
    '  error wait time 1, 30;',
    ...(p.password !== undefined ? [`  password ${quoted(p.password)};`] : []),
    ...(p.bfd ? ['  bfd on;'] : []),
    `  ${v6 ? 'ipv6' : 'ipv4'} { import none; export where proto = "${v6 ? STATIC6 : STATIC4}"; };`,
    '}',
  ];
}

export function renderManagedConfig(cfg: AnnounceConfig, source: string): string {
  if (cfg.localAsn === undefined || cfg.routerId === undefined) throw new AnnounceError('SPEAKER_CONFIG', 'managed BIRD configuration needs localAsn and routerId');
  const localAsn = cfg.localAsn;
  const lines = [
    `${MANAGED_MARKER}, rendered from the "bgp" section of ${source}. Rewritten at start; do not edit.`,
    `# Start BIRD with: bird -c ${cfg.bird.config} -s ${cfg.bird.socket}`,
    `router id ${cfg.routerId};`,
    'protocol device { }',
    `include ${quoted(cfg.bird.routes)};`,
    ...(cfg.peers.some((p) => p.bfd) ? ['protocol bfd { }'] : []),
    ...cfg.peers.flatMap((p) => renderPeer(p, localAsn)),
    '',
  ];
  return lines.join('\n');
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, path);
}

/** The interesting line of a BIRD tool's output: its error, without the greeting. */
function birdMessage(r: ToolResult): string {
  const text = `${r.stderr}\n${r.stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^BIRD [\d.]+ ready\.$/.test(l) && !l.startsWith('Reading configuration from'));
  return text.join('; ') || (r.errno ? r.errno : `exit status ${r.code}`);
}

/** Rows of `birdc show protocols` whose protocol is BGP. */
export function parseBgpProtocols(text: string): PeerStatus[] {
  const out: PeerStatus[] = [];
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[1] !== 'BGP') continue;
    // Name Proto Table State Since Info...: "Since" is one or two words (time, or date + time).
    const info = cols.slice(5).join(' ').replace(/^\d\d:\d\d:\d\d(\.\d+)?\s*/, '');
    out.push({ name: cols[0], state: info || cols[3], established: cols[3] === 'up' && /Established/.test(info) });
  }
  return out;
}

export class BirdSpeaker implements Speaker {
  readonly kind = 'bird' as const;
  private readonly cfg: AnnounceConfig;
  private readonly source: string;
  private readonly run: ToolRunner;
  /** The routes file text BIRD last accepted with `configure` in this process. */
  private lastApplied: string | undefined;
  private disabled = false;

  constructor(cfg: AnnounceConfig, source: string, run: ToolRunner = runTool) {
    this.cfg = cfg;
    this.source = source;
    this.run = run;
  }

  private async tool(file: string, args: readonly string[], what: string): Promise<ToolResult> {
    const r = await this.run(file, args);
    if (r.errno === 'ENOENT') throw new AnnounceError('SPEAKER_MISSING', `${what}: "${file}" not found: is BIRD 2 installed? (Debian: apt-get install bird2)`);
    return r;
  }

  private birdc(...args: string[]): Promise<ToolResult> {
    return this.tool(this.cfg.bird.birdc, ['-s', this.cfg.bird.socket, ...args], 'birdc');
  }

  /** `bird -p`: does BIRD accept the main configuration (with our routes file) as it is on disk? */
  private async check(): Promise<string | undefined> {
    const r = await this.tool(this.cfg.bird.bird, ['-p', '-c', this.cfg.bird.config], 'bird -p');
    return r.code === 0 ? undefined : birdMessage(r);
  }

  async prepare(): Promise<void> {
    const { bird } = this.cfg;
    const version = await this.tool(bird.bird, ['--version'], 'bird --version');
    if (!/BIRD version 2\./.test(`${version.stdout}${version.stderr}`)) {
      throw new AnnounceError('SPEAKER_MISSING', `"${bird.bird} --version" did not report BIRD 2: ${birdMessage(version)}`);
    }
    await this.tool(bird.birdc, ['-s', bird.socket, 'show', 'status'], 'birdc'); // only ENOENT matters here
    // Never start by withdrawing: an existing routes file is what BIRD announces now, and it stays until
    // this node has decided (first sync + first health checks) what it serves.
    if ((await readOrUndefined(bird.routes)) === undefined) await writeAtomically(bird.routes, renderRoutes([]));
    if (this.cfg.mode === 'managed') {
      const text = renderManagedConfig(this.cfg, this.source);
      const existing = await readOrUndefined(bird.config);
      if (existing !== undefined && !existing.startsWith(MANAGED_MARKER)) {
        throw new AnnounceError('SPEAKER_CONFIG', `refusing to overwrite ${bird.config}: it was not written by ipvs-maglev (use it as bgp.bird.config without "peers" to include our routes into it)`);
      }
      if (existing !== text) await writeAtomically(bird.config, text);
    } else if ((await readOrUndefined(bird.config)) === undefined) {
      throw new AnnounceError('SPEAKER_CONFIG', `bgp.bird.config ${bird.config} does not exist (it is the operator's BIRD configuration that includes ${bird.routes})`);
    }
    const refused = await this.check();
    if (refused) throw new AnnounceError('SPEAKER_CONFIG', `BIRD refuses ${bird.config}: ${refused}`);
  }

  async apply(routes: readonly AnnouncedRoute[]): Promise<ApplyOutcome> {
    const text = renderRoutes(routes);
    if (text === this.lastApplied && !this.disabled) return { applied: true, unchanged: true };
    const path = this.cfg.bird.routes;
    const previous = await readOrUndefined(path);
    if (previous !== text) {
      await writeAtomically(path, text);
      const refused = await this.check();
      if (refused) {
        if (previous !== undefined) await writeAtomically(path, previous);
        return { applied: false, unchanged: false, error: `BIRD refuses the configuration (kept the previous routes file): ${refused}` };
      }
    }
    const r = await this.birdc('configure');
    if (r.code !== 0 || !/Reconfigured|Reconfiguration in progress|Reconfiguration already in progress/.test(r.stdout)) {
      return { applied: false, unchanged: false, error: this.downOrRefused(r) };
    }
    if (this.disabled) {
      for (const p of [STATIC4, STATIC6]) await this.birdc('enable', p);
      this.disabled = false;
    }
    this.lastApplied = text;
    return { applied: true, unchanged: false };
  }

  async emergencyWithdraw(): Promise<ApplyOutcome> {
    this.lastApplied = undefined;
    const errors: string[] = [];
    for (const p of [STATIC4, STATIC6]) {
      const r = await this.birdc('disable', p);
      if (r.code !== 0) errors.push(this.downOrRefused(r));
    }
    if (errors.length > 0) return { applied: false, unchanged: false, error: errors.join('; ') };
    this.disabled = true;
    return { applied: true, unchanged: false };
  }

  async status(): Promise<SpeakerStatus> {
    const r = await this.birdc('show', 'protocols');
    if (r.code !== 0) return { up: false, peers: [], error: this.downOrRefused(r) };
    const all = parseBgpProtocols(r.stdout);
    const mine = this.cfg.mode === 'managed' ? new Set(this.cfg.peers.map((p) => p.name)) : undefined;
    return { up: true, peers: mine ? all.filter((p) => mine.has(p.name)) : all };
  }

  private downOrRefused(r: ToolResult): string {
    const msg = birdMessage(r);
    if (/Unable to connect to server control socket/.test(msg)) return `BIRD is not running (no control socket ${this.cfg.bird.socket}): ${msg}`;
    return `birdc: ${msg}`;
  }
}
