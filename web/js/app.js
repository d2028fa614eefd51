// The console's entry point: the routes (one per view; see web/README.md
// for how a page is added), the navigation bar and who is signed in.
import { route, navItems, start, ready } from './router.js';
import { whoami, setToken, askToken, token } from './api.js';
import { h, clear } from './dom.js';

route('/', () => import('./pages/overview.js'), { nav: 'Overview', title: 'overview' });
route('/runs', () => import('./pages/runs.js'), { nav: 'Runs', title: 'runs' });
route('/runs/:id', () => import('./pages/run.js'), { title: 'run' });
route('/compare', () => import('./pages/compare.js'), { nav: 'Compare', title: 'compare runs' });
route('/experiments', () => import('./pages/experiments.js'), { nav: 'Experiments', title: 'experiments' });
route('/experiments/:name', () => import('./pages/experiment.js'), { title: 'experiment' });
route('/schedules', () => import('./pages/schedules.js'), { nav: 'Schedules', title: 'schedules' });
route('/schedules/:name', () => import('./pages/schedules.js'), { title: 'schedule' });
route('/bulletins', () => import('./pages/bulletins.js'), { nav: 'Bulletins', title: 'bulletins' });
route('/bulletins/:id', () => import('./pages/bulletins.js'), { title: 'bulletin' });

function drawNav() {
  const nav = document.getElementById('nav');
  const here = location.pathname;
  clear(nav, h('ul', {}, navItems().map(({ href, label }) => {
    const active = href === '/' ? here === '/' : here === href || here.startsWith(href + '/');
    return h('li', {}, h('a', { href, 'aria-current': active ? 'page' : null }, label));
  })));
}

async function drawWho() {
  const el = document.getElementById('who');
  try {
    const me = await whoami();
    clear(el, h('span', { class: 'role', title: me.auth ? `token ${me.who}` : 'no tokens on this server' },
      me.auth ? `${me.who} · ${me.role}` : `${me.role} (no tokens)`));
    if (me.auth && token()) {
      el.append(' ', h('button', { class: 'link', type: 'button', onclick: async () => {
        setToken('');
        await askToken('Enter a token.');
        location.reload();
      } }, 'switch token'));
    }
  } catch (e) {
    clear(el, h('span', { class: 'error' }, 'not signed in'));
  }
}

document.addEventListener('fl:navigate', drawNav);
// The role decides which buttons the pages draw: know it before the first
// page draws (the router awaits it along with the page's module).
ready(whoami().catch(() => null).finally(drawWho));
start();
