// Parse Server for the Latchkey benchmark.
//
//   NODE_ENV=production node server.mjs [--port 1337] [--database URL] [--workers N] [--fresh] [--quiet]
//
// Mounts the REST API at /parse (appId "bench", masterKey "bench-master") with the
// built-in MFA auth adapter (TOTP, SHA1, 6 digits, 30 s). Prints "ready" on stdout
// once it accepts connections; exits 0 on SIGTERM/SIGINT.
//
// --workers N (default 1) runs N node:cluster workers sharing the port (the primary
// distributes connections round-robin). The first worker starts alone so that only one
// process creates Parse's schema tables in a fresh database.
// The database named in --database is created if missing; --fresh drops it first.
// --quiet turns Parse's console logging off entirely (default: errors only, on stderr).
import cluster from 'node:cluster';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '1337' },
    host: { type: 'string', default: '127.0.0.1' },
    database: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/parse_bench' },
    workers: { type: 'string', default: '1' },
    fresh: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
});
const port = Number(args.port);
const workers = Math.max(1, Number(args.workers) || 1);
process.env.NODE_ENV ??= 'production';
// No file logs (Parse defaults to ./logs/). Must be set before parse-server is imported.
process.env.PARSE_SERVER_LOGS_FOLDER ??= 'null';
// Keep stdout for the single "ready" line: Parse's console logger (e.g. the
// deprecation warnings it prints at construction) goes to stderr instead.
const stdoutWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
const say = (line) => stdoutWrite(`${line}\n`);

// Creates the database if it is missing; with drop=true drops it first (fresh run).
async function prepareDatabase(uri, drop) {
  const { default: pg } = await import('pg');
  const url = new URL(uri);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    if (drop) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

async function runWorker() {
  const { default: express } = await import('express');
  const { ParseServer } = await import('parse-server');

  const api = new ParseServer({
    appId: 'bench',
    masterKey: 'bench-master',
    masterKeyIps: ['127.0.0.1', '::1'],
    databaseURI: args.database,
    serverURL: `http://127.0.0.1:${port}/parse`,
    mountPath: '/parse',
    auth: {
      mfa: {
        enabled: true,
        options: ['TOTP'],
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      },
    },
    logLevel: 'error',
    logsFolder: null,
    silent: args.quiet, // --quiet: not even error logs (Parse logs every failed MFA login)
    verifyServerUrl: false,
    startLiveQueryServer: false,
    mountGraphQL: false,
    rateLimit: [],
  });
  await api.start();

  const app = express();
  app.disable('x-powered-by');
  app.use('/parse', api.app);
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, args.host, resolve);
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    try {
      await api.config.databaseController.adapter.handleShutdown();
    } catch {
      /* ignore */
    }
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return stop;
}

if (cluster.isPrimary && workers > 1) {
  await prepareDatabase(args.database, args.fresh);
  const children = [];
  const forkAndWait = () =>
    new Promise((resolve, reject) => {
      const w = cluster.fork();
      children.push(w);
      w.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
      w.once('exit', (code) => reject(new Error(`worker exited with ${code} during start`)));
    });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const w of children) if (!w.isDead()) w.process.kill('SIGTERM');
    const done = () => children.every((w) => w.isDead()) && process.exit(0);
    cluster.on('exit', done);
    done();
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  cluster.on('exit', (w, code, signal) => {
    if (!stopping) {
      process.stderr.write(`worker ${w.process.pid} died (${code ?? signal}); stopping\n`);
      stop();
    }
  });
  try {
    await forkAndWait(); // first worker alone: creates schema tables
    await Promise.all(Array.from({ length: workers - 1 }, forkAndWait));
  } catch (e) {
    process.stderr.write(`${e.stack || e}\n`);
    stop();
  }
  if (!stopping) say('ready');
} else if (cluster.isPrimary) {
  await prepareDatabase(args.database, args.fresh);
  await runWorker();
  say('ready');
} else {
  await runWorker();
  process.send('ready');
}
