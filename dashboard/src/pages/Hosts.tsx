// All hosts, sortable by name / CPU / memory and filterable by name.
// Sorting happens when asked (or when hosts come and go), not on every live
// frame, so rows do not jump around while you read them.
import { useMemo, useState } from 'preact/hooks';
import { useServices } from '../context';
import { HostList } from '../components/HostRow';
import { useSortedIds } from '../hooks';
import type { SortKey } from '../live/store';
import { onLinkClick } from '../router';

const SORTS: { key: SortKey; label: string }[] = [
  { key: 'name', label: 'Name' },
  { key: 'cpu', label: 'CPU' },
  { key: 'mem', label: 'Memory' },
];

export function Hosts() {
  const { store } = useServices();
  const [key, setKey] = useState<SortKey>('name');
  const [desc, setDesc] = useState(false);
  const [resort, setResort] = useState(0);
  const [filter, setFilter] = useState('');
  const ids = useSortedIds(store, key, desc, resort);
  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    if (!f) return ids;
    return ids.filter((id) => {
      const h = store.get(id);
      return !!h && (h.name.toLowerCase().includes(f) || h.hostname.toLowerCase().includes(f) || h.ip_address.includes(f));
    });
  }, [ids, filter, store]);

  const choose = (k: SortKey) => {
    if (k === key) setDesc(!desc);
    else {
      setKey(k);
      setDesc(k !== 'name');
    }
    setResort((n) => n + 1);
  };

  return (
    <div>
      <div class="section-head">
        <h1>Hosts <span class="muted">({store.ids().length})</span></h1>
        <a href="/settings" onClick={onLinkClick} class="btn btn-small">+ Add host</a>
      </div>
      <div class="toolbar">
        <input
          type="search"
          class="input"
          placeholder="Filter by name, hostname or IP"
          value={filter}
          onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)}
          aria-label="Filter hosts"
          data-testid="hosts-filter"
        />
        <div class="segmented" role="group" aria-label="Sort hosts">
          {SORTS.map((s) => (
            <button
              type="button"
              key={s.key}
              class={`seg${key === s.key ? ' is-active' : ''}`}
              aria-pressed={key === s.key}
              onClick={() => choose(s.key)}
              data-testid={`sort-${s.key}`}
            >
              {s.label}
              {key === s.key ? (desc ? ' ↓' : ' ↑') : ''}
            </button>
          ))}
        </div>
      </div>
      {store.loaded ? (
        <HostList ids={shown} empty={filter ? 'No host matches this filter.' : 'No hosts yet.'} />
      ) : (
        <div class="empty">Loading hosts…</div>
      )}
    </div>
  );
}
