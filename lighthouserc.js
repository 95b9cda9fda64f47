// Lighthouse CI for perfbeacon's own dashboard: the overview and a route view of the
// demo site must stay fast and accessible. Run it with scripts/lighthouse.sh, which
// serves the demo, logs in and passes the session cookie and site key below.
const base = process.env.PERFBEACON_URL || 'http://127.0.0.1:8000';
const key = process.env.PERFBEACON_SITE_KEY || 'pk_demo';
const cookie = process.env.PERFBEACON_SESSION_COOKIE || '';

module.exports = {
  ci: {
    collect: {
      url: [
        `${base}/dashboard/sites/${key}`,
        `${base}/dashboard/sites/${key}/routes/product/:id`,
      ],
      numberOfRuns: 3,
      chromePath: process.env.CHROME_PATH || '/usr/bin/chromium',
      settings: {
        chromeFlags: [
          '--headless=new',
          '--no-sandbox',
          '--disable-gpu',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ].join(' '),
        extraHeaders: JSON.stringify({Cookie: cookie}),
      },
    },
    assert: {
      assertions: {
        'categories:performance': ['error', {minScore: 0.95}],
        'categories:accessibility': ['error', {minScore: 0.95}],
        'largest-contentful-paint': ['error', {maxNumericValue: 2500}],
        'cumulative-layout-shift': ['error', {maxNumericValue: 0.1}],
      },
    },
    upload: {
      target: 'filesystem',
      outputDir: '.lighthouseci/reports',
    },
  },
};
