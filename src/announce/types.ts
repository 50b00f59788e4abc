// The vocabulary of VIP announcement. ipvs-maglev does not speak BGP: it tells an existing speaker
// (BIRD 2 today; the Speaker interface is what an FRR driver would implement) which host routes this
// node serves right now, and the speaker carries them to the routers.

export type SpeakerKind = 'bird';

export interface BgpPeer {
  /** Protocol name in the speaker's configuration (letters, digits, _). */
  name: string;
  address: string;
  asn: number;
  /** BGP hold time in seconds (the session dies after this long without a keepalive). */
  holdTimeS: number;
  /** Keepalive interval in seconds; default one third of the hold time. */
  keepaliveS?: number;
  /** Run BFD on the session (BIRD: a `protocol bfd` is rendered too). */
  bfd: boolean;
  /** TCP MD5 signature password. */
  password?: string;
}

export interface BirdPaths {
  /** The main BIRD configuration: ours to render when peers are configured, the operator's otherwise. */
  config: string;
  /** The file of routes this node announces; the main configuration includes it. */
  routes: string;
  /** BIRD's control socket (birdc -s). */
  socket: string;
  /** Executables: `bird` (for `bird -p`, the parse-only check) and `birdc`. */
  bird: string;
  birdc: string;
}

export interface AnnounceConfig {
  speaker: SpeakerKind;
  /**
   * managed: ipvs-maglev renders the whole BIRD configuration from localAsn/routerId/peers.
   * include: the operator owns the BIRD configuration and includes our routes file into it.
   */
  mode: 'managed' | 'include';
  localAsn?: number;
  routerId?: string;
  peers: BgpPeer[];
  bird: BirdPaths;
  /** After withdrawing on SIGTERM, keep serving this long before exiting (routers move flows away). */
  gracePeriodMs: number;
  /** Set net.ipv4.vs.sloppy_tcp/sloppy_sctp at start, so this node carries on flows another node began. */
  takeOverFlows: boolean;
}

/** One host route: a VIP this node serves. */
export interface AnnouncedRoute {
  /** Canonical address, no prefix length. */
  address: string;
  family: 'inet' | 'inet6';
}

export interface PeerStatus {
  name: string;
  /** The speaker's state words, e.g. "Established", "Active", "Connect". */
  state: string;
  established: boolean;
}

export interface SpeakerStatus {
  /** The speaker answered on its control channel. */
  up: boolean;
  peers: PeerStatus[];
  /** Why it is not up (the control channel's error). */
  error?: string;
}

export interface ApplyOutcome {
  /** The speaker now announces exactly these routes. */
  applied: boolean;
  /** Nothing had changed since the last successful apply: the speaker was not touched. */
  unchanged: boolean;
  error?: string;
}

/** What the announcer needs from a BGP speaker driver. */
export interface Speaker {
  readonly kind: SpeakerKind;
  /** Checks the speaker's executables and configuration at start; throws AnnounceError when it cannot work at all. */
  prepare(): Promise<void>;
  /** Makes the speaker announce exactly `routes` (an empty list withdraws everything of ours). */
  apply(routes: readonly AnnouncedRoute[]): Promise<ApplyOutcome>;
  /** Withdraws everything of ours by the shortest path, when a normal apply was refused. */
  emergencyWithdraw(): Promise<ApplyOutcome>;
  status(): Promise<SpeakerStatus>;
}

export type AnnounceErrorCode = 'SPEAKER_MISSING' | 'SPEAKER_CONFIG' | 'SPEAKER_REFUSED' | 'SPEAKER_DOWN';

export class AnnounceError extends Error {
  readonly code: AnnounceErrorCode;
  constructor(code: AnnounceErrorCode, message: string) {
    super(message);
    this.name = 'AnnounceError';
    this.code = code;
  }
}
