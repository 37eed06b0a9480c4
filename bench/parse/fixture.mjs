// Creates benchmark accounts in a running Parse Server (see README.md).
//
//   node fixture.mjs --url http://127.0.0.1:1337/parse --count N --mfa-count M --out accounts.jsonl
//   node fixture.mjs --code i          # print the current TOTP code of MFA user i
//   node fixture.mjs --code BASE32     # print the current TOTP code of a base32 secret
//   node fixture.mjs --self-test       # RFC 6238 / RFC 4648 self-checks only
//
// Accounts (i counts from 0):
//   bench{i}     password "bench-password-{i}", no MFA             (i < N)
//   benchmfa{i}  password "bench-password-{i}", TOTP MFA enrolled  (i < M)
//                secret = base32(SHA-256("latchkey-bench:" + i)[0..20]), SHA1, 6 digits, 30 s
// One JSON object per line is written to --out:
//   {"username","password","mfa","secret","session_token"}   (bench{i} lines first)
// Re-running against an existing database logs existing accounts in instead of failing.
import { createHash, createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const APP_ID = 'bench';

// ---------- RFC 4648 base32 and RFC 6238 TOTP ----------
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export function base32Encode(buf) {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}
export function base32Decode(str) {
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of str.replace(/=+$/, '').toUpperCase()) {
    const v = B32.indexOf(c);
    if (v < 0) throw new Error(`invalid base32 character ${c}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}
export function hotp(key, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = mac.readUInt32BE(off) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}
export function totp(key, unixSeconds = Date.now() / 1000, digits = 6, period = 30) {
  return hotp(key, Math.floor(unixSeconds / period), digits);
}
export function mfaSecret(i) {
  const raw = createHash('sha256').update(`latchkey-bench:${i}`).digest().subarray(0, 20);
  return base32Encode(raw);
}

function selfTest() {
  const key = Buffer.from('12345678901234567890', 'ascii');
  const check = (what, got, want) => {
    if (got !== want) throw new Error(`self-test ${what}: got ${got}, want ${want}`);
  };
  check('TOTP T=59 8 digits', totp(key, 59, 8), '94287082');
  check('TOTP T=59 6 digits', totp(key, 59, 6), '287082');
  check('TOTP T=1111111109', totp(key, 1111111109, 8), '07081804');
  check('TOTP T=20000000000', totp(key, 20000000000, 8), '65353130');
  check('base32 RFC 4648', base32Encode(Buffer.from('foobar')), 'MZXW6YTBOI');
  check('base32 roundtrip', base32Decode(base32Encode(key)).toString('ascii'), '12345678901234567890');
  check('secret length', mfaSecret(0).length, 32);
}

// ---------- REST helpers ----------
async function call(base, method, path, body, sessionToken) {
  const headers = { 'X-Parse-Application-Id': APP_ID };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (sessionToken) headers['X-Parse-Session-Token'] = sessionToken;
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = await res.json().catch(() => ({}));
      return { status: res.status, json };
    } catch (e) {
      if (attempt >= 3) throw e;
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
    }
  }
}
const fail = (what, r) => {
  throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
};

// Waits until the next 30 s step if the current one ends within 2 s, so that the
// code sent is still current when Parse checks it (Parse also accepts +-1 step).
async function freshCode(key) {
  const left = 30 - ((Date.now() / 1000) % 30);
  if (left < 2) await new Promise((r) => setTimeout(r, left * 1000 + 50));
  return totp(key);
}

async function createAccount(base, username, password, secret) {
  let r = await call(base, 'POST', '/users', { username, password });
  let sessionToken;
  let objectId;
  let enrolled = false;
  if (r.status === 201) {
    ({ sessionToken, objectId } = r.json);
  } else if (r.json.code === 202) {
    // Username taken: log in (with an MFA code when the account has MFA).
    r = await call(base, 'POST', '/login', { username, password });
    if (r.status !== 200 && /authData mfa/.test(r.json.error) && secret) {
      const token = await freshCode(base32Decode(secret));
      r = await call(base, 'POST', '/login', { username, password, authData: { mfa: { token } } });
    }
    if (r.status !== 200) fail(`login ${username}`, r);
    ({ sessionToken, objectId } = r.json);
    enrolled = r.json.authData?.mfa?.status === 'enabled';
    if (!secret && enrolled) throw new Error(`${username} has MFA but should not`);
  } else {
    fail(`signup ${username}`, r);
  }
  if (secret && !enrolled) {
    const token = await freshCode(base32Decode(secret));
    r = await call(base, 'PUT', `/users/${objectId}`, { authData: { mfa: { secret, token } } }, sessionToken);
    if (r.status !== 200) fail(`enrol MFA ${username}`, r);
  }
  return { username, password, mfa: !!secret, secret: secret ?? null, session_token: sessionToken };
}

async function main() {
  const { values: a } = parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:1337/parse' },
      count: { type: 'string', default: '1000' },
      'mfa-count': { type: 'string', default: '1000' },
      out: { type: 'string', default: 'accounts.jsonl' },
      concurrency: { type: 'string', default: '8' },
      code: { type: 'string' },
      'self-test': { type: 'boolean', default: false },
    },
  });
  selfTest();
  if (a['self-test']) {
    console.log('self-test ok');
    return;
  }
  if (a.code !== undefined) {
    const secret = /^\d+$/.test(a.code) ? mfaSecret(a.code) : a.code;
    console.log(totp(base32Decode(secret)));
    return;
  }
  const base = a.url.replace(/\/+$/, '');
  const count = Number(a.count);
  const mfaCount = Number(a['mfa-count']);
  const jobs = [];
  for (let i = 0; i < count; i++) jobs.push([`bench${i}`, `bench-password-${i}`, null]);
  for (let i = 0; i < mfaCount; i++) jobs.push([`benchmfa${i}`, `bench-password-${i}`, mfaSecret(i)]);

  const results = new Array(jobs.length);
  let next = 0;
  let done = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < jobs.length) {
      const k = next++;
      results[k] = await createAccount(base, ...jobs[k]);
      if (++done % 200 === 0) process.stderr.write(`${done}/${jobs.length}\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Number(a.concurrency)) }, worker));
  writeFileSync(a.out, results.map((x) => JSON.stringify(x)).join('\n') + (results.length ? '\n' : ''));
  const secs = (Date.now() - started) / 1000;
  process.stderr.write(`wrote ${results.length} accounts to ${a.out} in ${secs.toFixed(1)} s\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    process.stderr.write(`${e.stack || e}\n`);
    process.exit(1);
  });
}
