// State of the "create agent token" flow in Settings. The secret token is
// held only in the `created` state: it is shown once, and dismissing the
// panel (or starting another creation) drops it for good.
//
//   idle ──create(name)──▶ creating ──ok──▶ created{token} ──dismiss──▶ idle
//                              └──error──▶ failed{message} ──create──▶ creating

import type { CreatedToken } from './api/types';

export type TokenFlowState =
  | { kind: 'idle' }
  | { kind: 'creating'; name: string }
  | { kind: 'created'; name: string; id: string; token: string; copied: boolean }
  | { kind: 'failed'; name: string; message: string };

export interface TokenCreator {
  createToken(name: string): Promise<CreatedToken>;
}

export const NAME_MAX = 100;

/** Why a token name cannot be used, or null when it can. */
export function validateTokenName(name: string): string | null {
  const trimmed = name.trim();
  if (!trimmed) return 'give the token a name, e.g. the host or group it is for';
  if (trimmed.length > NAME_MAX) return `the name is ${trimmed.length} characters; keep it to ${NAME_MAX}`;
  return null;
}

/** The command to run on the host being enrolled. */
export function installCommand(serverHost: string, token: string): string {
  return `sovigilant init --server ${serverHost}:9090 --token ${token} --ca-cert ca.pem`;
}

export class TokenFlow {
  state: TokenFlowState = { kind: 'idle' };
  private listeners = new Set<(s: TokenFlowState) => void>();

  constructor(private api: TokenCreator, private onCreated: () => void = () => {}) {}

  subscribe(fn: (s: TokenFlowState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private set(s: TokenFlowState): void {
    this.state = s;
    for (const fn of this.listeners) fn(s);
  }

  async create(rawName: string): Promise<void> {
    if (this.state.kind === 'creating') return;
    const name = rawName.trim();
    const invalid = validateTokenName(name);
    if (invalid) {
      this.set({ kind: 'failed', name, message: invalid });
      return;
    }
    this.set({ kind: 'creating', name });
    try {
      const created = await this.api.createToken(name);
      this.set({ kind: 'created', name, id: created.id, token: created.token, copied: false });
      this.onCreated();
    } catch (e) {
      this.set({ kind: 'failed', name, message: e instanceof Error ? e.message : String(e) });
    }
  }

  markCopied(): void {
    if (this.state.kind === 'created') this.set({ ...this.state, copied: true });
  }

  dismiss(): void {
    this.set({ kind: 'idle' });
  }
}
