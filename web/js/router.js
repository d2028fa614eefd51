// The router: every view has a URL (history API), so a view can be pasted
// into an incident channel and reloaded (the server answers index.html for
// any path outside /api). A page is a module exporting
//   render(root, ctx) — ctx: {params, query, signal, onCleanup(fn)}
// that fills root; ctx.signal aborts when the user leaves the page (close
// streams and timers with it or with onCleanup).
const routes = [];
let current = null;
let before = Promise.resolve();

// A promise every page waits for before it renders (e.g. knowing the role).
export function ready(p) {
  before = p;
}

// route('/runs/:id', () => import('./pages/run.js'), {nav: 'Runs', title})
export function route(pattern, load, opts = {}) {
  const names = [];
  const re = new RegExp('^' + pattern.replace(/:([a-z]+)/g, (_, n) => {
    names.push(n);
    return '([^/]+)';
  }) + '/?$');
  routes.push({ pattern, re, names, load, ...opts });
}

export function navItems() {
  return routes.filter((r) => r.nav).map((r) => ({ href: r.navHref || r.pattern, label: r.nav }));
}

export function navigate(url, replace = false) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render().then(() => {
    // keyboard and screen-reader users land on the new view, not on the old link
    const main = document.getElementById('main');
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  });
}

function match(path) {
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) {
      const params = {};
      r.names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      return { r, params };
    }
  }
  return null;
}

export async function render() {
  const main = document.getElementById('main');
  if (current) {
    current.abort.abort();
    current.cleanups.forEach((f) => { try { f(); } catch (e) { console.warn(e); } });
  }
  const abort = new AbortController();
  const cleanups = [];
  current = { abort, cleanups };
  const found = match(location.pathname);
  const ctx = {
    params: found ? found.params : {},
    query: new URLSearchParams(location.search),
    signal: abort.signal,
    onCleanup: (f) => cleanups.push(f),
  };
  document.dispatchEvent(new CustomEvent('fl:navigate', { detail: location.pathname }));
  if (!found) {
    main.replaceChildren(Object.assign(document.createElement('p'),
      { className: 'error', textContent: `No view at ${location.pathname}.` }));
    document.title = 'faultline: not found';
    return;
  }
  document.title = 'faultline: ' + (found.r.title || found.r.nav || 'console');
  main.replaceChildren();
  main.setAttribute('aria-busy', 'true');
  try {
    const [page] = await Promise.all([found.r.load(), before]);
    if (!abort.signal.aborted) await page.render(main, ctx);
  } catch (e) {
    if (abort.signal.aborted) return;
    console.warn(e);
    const p = document.createElement('p');
    p.className = 'error';
    p.setAttribute('role', 'alert');
    p.textContent = String(e && e.message ? e.message : e);
    main.append(p);
  } finally {
    main.removeAttribute('aria-busy');
  }
}

// Links inside the app navigate without a reload; others behave as usual.
export function start() {
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest && ev.target.closest('a[href]');
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey ||
        ev.shiftKey || ev.altKey || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/') ||
        url.pathname.startsWith('/vendor/') || url.hash && url.pathname === location.pathname) return;
    ev.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener('popstate', () => render());
  render();
}
