// Sign-in form. A refused login shows the server's own message.
import { useState } from 'preact/hooks';
import { useServices } from '../context';
import { navigate } from '../router';

export function Login() {
  const { api } = useServices();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.login(email.trim(), password);
      const next = new URLSearchParams(location.search).get('next');
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', true);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  };

  return (
    <div class="login-wrap">
      <form class="card login-card" onSubmit={submit} data-testid="login-form" noValidate>
        <div class="login-brand">
          <img src="/icon.svg" alt="" width={40} height={40} />
          <h1>Vigil</h1>
        </div>
        <label class="field">
          <span>Email</span>
          <input
            type="email"
            name="email"
            autoComplete="username"
            required
            value={email}
            onInput={(e) => setEmail((e.currentTarget as HTMLInputElement).value)}
            data-testid="login-email"
          />
        </label>
        <label class="field">
          <span>Password</span>
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)}
            data-testid="login-password"
          />
        </label>
        {error ? <div class="form-error" role="alert" data-testid="login-error">{error}</div> : null}
        <button type="submit" class="btn btn-primary" disabled={busy || !email || !password} data-testid="login-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
