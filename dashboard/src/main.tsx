// Entry point: theme, services, render, service worker.
import { render } from 'preact';
import { App } from './app';
import { createServices } from './services';
import { applyTheme, storedTheme } from './theme';
import './styles.css';

applyTheme(storedTheme());
const services = createServices();
render(<App services={services} />, document.getElementById('app')!);

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('/sw.js').catch(() => {
      // the dashboard works without it; it only enables install and an offline page
    });
  });
}
