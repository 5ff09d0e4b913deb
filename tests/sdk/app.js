// tests/sdk/app.js: the app behind streamgated, written as Stream's docs
// show it: Express, one route per hook, every request verified with
// Stream's official Node SDK (stream-chat) on the raw bytes it received.
// streamgated's upstream is "http://127.0.0.1:PORT" without a path, so each
// request arrives on the path Stream sent it to (the README's "Connect
// Stream" routes).
//
//   node app.js --port P --record FILE --api-key K --secret-file F
//
// Every request (any path) is appended to FILE as one JSON line:
//   {route, method, path (with the query), headers (lower-case), len,
//    sha256, verified (client.verifyWebhook), parsed (verifyAndParseWebhook
//    did not throw), error, type, cid, user_id, i, command (from the path
//    or the query), answer (the exact body answered), status, arrive, done}
// arrive and done are ticks of one counter: a request that arrives after
// another was answered has arrive > the other's done.
//
// POST /_control with a JSON object changes the mode (merged in):
//   bms_sleep_ms   Before-Message-Send: wait this long before answering (0)
//   slow           {"<X-Webhook-Id>": ms}: wait that long for that request
// GET /_up answers 200 once listening.  Needs NODE_PATH to hold the npm
// directory's node_modules (scripts/install-deps.sh fills it).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const express = require('express');
const { StreamChat } = require('stream-chat');

function arg(name) {
  const i = process.argv.indexOf('--' + name);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`app.js: --${name} is required`);
    process.exit(2);
  }
  return process.argv[i + 1];
}

const port = Number(arg('port'));
const record = arg('record');
const apiKey = arg('api-key');
const apiSecret = fs.readFileSync(arg('secret-file'), 'utf8').split('\n')[0].trim();

// The server-side client, as in Stream's docs: key and secret, no user.
const client = StreamChat.getInstance(apiKey, apiSecret);

const mode = { bms_sleep_ms: 0, slow: {} };
let tick = 0;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function write(rec) {
  fs.appendFileSync(record, JSON.stringify(rec) + '\n');
}

// What every hook route does first: verify the bytes as received, both
// ways the SDK offers (the boolean helper and the one that parses).
function verify(req) {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const signature = req.headers['x-signature'] || '';
  const out = { raw, verified: false, parsed: false, event: null, error: null };
  try {
    out.verified = client.verifyWebhook(raw, signature);
  } catch (e) {
    out.error = String(e);
  }
  try {
    out.event = client.verifyAndParseWebhook(raw, signature);
    out.parsed = true;
  } catch (e) {
    out.error = out.error || String(e);
  }
  return out;
}

function base(route, req, v) {
  const ev = v.event || {};
  return {
    route,
    method: req.method,
    path: req.originalUrl,
    headers: req.headers,
    len: v.raw.length,
    sha256: crypto.createHash('sha256').update(v.raw).digest('hex'),
    verified: v.verified,
    parsed: v.parsed,
    error: v.error,
    type: ev.type === undefined ? null : ev.type,
    cid: ev.cid === undefined ? null : ev.cid,
    user_id: ev.user && ev.user.id !== undefined ? ev.user.id : null,
    i: ev.i === undefined ? null : ev.i,
  };
}

// answer(res, rec, status, body): send body and record it, with the tick
// taken just before the answer leaves.
function answer(res, rec, status, body) {
  rec.status = status;
  rec.answer = body;
  rec.done = ++tick;
  write(rec);
  res.status(status).type('application/json').send(body);
}

// Stream's docs: express.raw keeps the exact bytes for the signature.
const raw = express.raw({ type: 'application/json' });
const app = express();

app.get('/_up', (req, res) => res.send('up'));

app.post('/_control', express.json(), (req, res) => {
  Object.assign(mode, req.body || {});
  res.json(mode);
});

// Push: any 2xx; the body is ignored by Stream.
app.post('/webhooks/stream/push', raw, async (req, res) => {
  const arrive = ++tick;
  const v = verify(req);
  const rec = { ...base('push', req, v), arrive };
  if (!v.verified || !v.parsed) return answer(res, rec, 401, '{"error":"bad signature"}');
  const ms = mode.slow[req.headers['x-webhook-id']] || 0;
  if (ms) await sleep(ms);
  answer(res, rec, 200, '{"ok":true}');
});

// Before-Message-Send: the message rewritten, as the app decides.
app.post('/webhooks/stream/before-message-send', raw, async (req, res) => {
  const arrive = ++tick;
  const v = verify(req);
  const rec = { ...base('before_message_send', req, v), arrive };
  if (!v.verified || !v.parsed) return answer(res, rec, 401, '{"error":"bad signature"}');
  if (mode.bms_sleep_ms) await sleep(mode.bms_sleep_ms);
  const message = { ...(v.event.message || {}) };
  message.text = `[checked by the app] ${message.text || ''}`;
  message.app_checked_at = new Date().toISOString();
  answer(res, rec, 200, JSON.stringify({ message }));
});

// Custom Commands: the command's name in the path or in ?type=.
async function command(req, res) {
  const arrive = ++tick;
  const v = verify(req);
  const rec = { ...base('custom_commands', req, v), arrive };
  rec.command = req.params.type || req.query.type || null;
  if (!v.verified || !v.parsed) return answer(res, rec, 401, '{"error":"bad signature"}');
  const msg = v.event.message || {};
  const message = {
    ...msg,
    type: 'ephemeral',
    text: `/${rec.command} ${msg.args || ''} handled by the app`,
  };
  answer(res, rec, 200, JSON.stringify({ message }));
}
app.post('/webhooks/stream/custom-commands', raw, command);
app.post('/webhooks/stream/custom-commands/:type', raw, command);

// Anything else: recorded, so a request on a wrong path shows.
app.use((req, res) => {
  const rec = { route: null, method: req.method, path: req.originalUrl,
    headers: req.headers, arrive: ++tick };
  answer(res, rec, 404, '{"error":"no such route"}');
});

const server = app.listen(port, '127.0.0.1', () => {
  console.error(`app.js: listening on 127.0.0.1:${port} (node ${process.version})`);
});
// Behind a proxy that keeps connections open (streamgated reuses them),
// the app should not be the side that closes an idle one first: Node's
// 5 s default races a request sent on it at that moment.
server.keepAliveTimeout = 65000;
