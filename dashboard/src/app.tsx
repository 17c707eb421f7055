// Root component: routes between the login page and the signed-in shell.
// Signed out → /login?next=<path>; signed in on /login → dashboard.
import { useEffect, useState } from 'preact/hooks';
import { AppContext, type AppServices } from './context';
import { Layout } from './components/Layout';
import { lazy } from './components/Lazy';
import { Containers } from './pages/Containers';
import { Dashboard } from './pages/Dashboard';
import { HostDetail } from './pages/HostDetail';
import { Hosts } from './pages/Hosts';
import { Login } from './pages/Login';
import { NotFound } from './pages/Placeholder';
import { Settings } from './pages/Settings';
import { navigate, useRoute, type Route } from './router';

// the Alerts page (rules, editor, silences, maintenance) is its own chunk
const Alerts = lazy(() => import('./pages/Alerts').then((m) => m.Alerts), 'the Alerts page');
// so is the Actions page (the log and an action's detail)
const Actions = lazy(() => import('./pages/Actions').then((m) => m.Actions), 'the Actions page');
const ActionDetail = lazy(() => import('./pages/Actions').then((m) => m.ActionDetail), 'the action');
// and the Scenarios page (the list with the kill switch, the editor with its runs, a run)
const Scenarios = lazy(() => import('./pages/Scenarios').then((m) => m.Scenarios), 'the Scenarios page');
const ScenarioPage = lazy(() => import('./pages/Scenarios').then((m) => m.ScenarioPage), 'the scenario');
const RunDetail = lazy(() => import('./pages/Scenarios').then((m) => m.RunDetail), 'the run');

function titleOf(route: Route): string {
  switch (route.name) {
    case 'login': return 'Sign in';
    case 'dashboard': return 'Dashboard';
    case 'hosts': return 'Hosts';
    case 'host': return route.id;
    case 'containers': return 'Containers';
    case 'alerts': return 'Alerts';
    case 'actions': return 'Actions';
    case 'action': return 'Action';
    case 'scenarios': return 'Scenarios';
    case 'scenario': return route.id === null ? 'New scenario' : 'Scenario';
    case 'scenario_run': return 'Scenario run';
    case 'settings': return 'Settings';
    case 'not_found': return 'Not found';
  }
}

function Page({ route }: { route: Route }) {
  switch (route.name) {
    case 'dashboard': return <Dashboard />;
    case 'hosts': return <Hosts />;
    case 'host': return <HostDetail key={route.id} id={route.id} />;
    case 'containers': return <Containers />;
    case 'alerts': return <Alerts />;
    case 'actions': return <Actions />;
    case 'action': return <ActionDetail key={route.id} id={route.id} />;
    case 'scenarios': return <Scenarios />;
    case 'scenario': return <ScenarioPage key={route.id ?? 'new'} id={route.id} />;
    case 'scenario_run': return <RunDetail key={route.id} id={route.id} />;
    case 'settings': return <Settings />;
    case 'login': return null;
    case 'not_found': return <NotFound path={route.path} />;
  }
}

export function App({ services }: { services: AppServices }) {
  const route = useRoute();
  const [signedIn, setSignedIn] = useState(() => services.session.current !== null);
  useEffect(() => services.session.subscribe((s) => setSignedIn(s !== null)), [services]);

  useEffect(() => {
    document.title = `${titleOf(route)} · Vigil`;
  }, [route]);

  useEffect(() => {
    if (!signedIn && route.name !== 'login') {
      const here = location.pathname + location.search;
      navigate(here === '/' ? '/login' : `/login?next=${encodeURIComponent(here)}`, true);
    } else if (signedIn && route.name === 'login') {
      navigate('/', true);
    }
  }, [signedIn, route.name]);

  return (
    <AppContext.Provider value={services}>
      {!signedIn ? (
        route.name === 'login' ? <Login /> : null
      ) : route.name === 'login' ? null : (
        <Layout route={route}>
          <Page route={route} />
        </Layout>
      )}
    </AppContext.Provider>
  );
}
