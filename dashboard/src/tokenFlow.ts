// The agent token's rules in Settings: its name, and the command that
// enrols a host with it. The create / show once / revoke flow itself is the
// shared components/CredentialSection.tsx.

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
