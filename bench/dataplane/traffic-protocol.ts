// Messages between the benchmark and its client worker (one JSON object per line).

export interface Target {
  host: string;
  port: number;
}

export interface ProbeRequest { op: 'probe'; host: string; port: number; count: number; timeoutMs: number }
export interface RateRequest { op: 'rate'; targets: Target[]; durationMs: number; concurrency: number; timeoutMs: number }
export interface FlowsRequest { op: 'flows'; host: string; port: number; localPorts: number[]; concurrency: number; timeoutMs: number }
export type WorkerRequest = (ProbeRequest | RateRequest | FlowsRequest) & { id: number };

interface Common {
  id: number;
  backends: Record<string, number>;
  errors: string[];
  errorCount: number;
}

export type ProbeReply = Common & { op: 'probe'; latenciesUs: number[] };
export type RateReply = Common & { op: 'rate'; completed: number; elapsedMs: number };
export type FlowsReply = Common & { op: 'flows'; flows: (string | null)[] };
export type WorkerReply = ProbeReply | RateReply | FlowsReply;
