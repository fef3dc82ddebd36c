// A local AT Protocol network for Parley's Bluesky tests: the reference
// PLC directory, PDS and AppView from @atproto/dev-env, every listener on
// 127.0.0.1, three accounts (alice.test, bob.test, carla.test, password
// hunter2), and a small control server for what a test cannot do through
// the protocol (move a PDS in the DID directory, age every token, count the
// requests each account made).
//
// node devnet.mjs CONTROL_PORT PLC_PORT PDS_PORT APPVIEW_PORT
// Needs DB_POSTGRES_URL and REDIS_HOST (asserted by dev-env; nothing
// connects to Redis). Prints one line "READY {json}" when it can be used,
// and exits when its standard input closes, so a test that dies cannot
// leave it running.
import dns from 'node:dns'
import http from 'node:http'
import net from 'node:net'

// dev-env listens on every interface (listen(port)); tests stay on the
// loopback address whatever the library asks for.
const realListen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || /^\d+$/.test(String(args[0] ?? ''))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1')
    else args[1] = '127.0.0.1'
  } else if (args[0] && typeof args[0] === 'object' && !args[0].path) {
    args[0] = { ...args[0], host: '127.0.0.1' }
  } else if (args.length === 0 || typeof args[0] === 'function') {
    args.unshift(0, '127.0.0.1')
  }
  return realListen.apply(this, args)
}
dns.setDefaultResultOrder('ipv4first')

// The servers' clock, moved forward on request: tokens the PDS issued
// before then have expired as far as it is concerned (the access token
// lives two hours; no test waits that long).
const RealDate = Date
let clockOffsetMs = 0
class ShiftedDate extends RealDate {
  constructor(...a) {
    if (a.length === 0) super(RealDate.now() + clockOffsetMs)
    else super(...a)
  }
  static now() {
    return RealDate.now() + clockOffsetMs
  }
}
globalThis.Date = ShiftedDate

const { TestNetwork } = await import('@atproto/dev-env')
const plcLib = await import('@did-plc/lib')

const [controlPort, plcPort, pdsPort, bskyPort] = process.argv
  .slice(2)
  .map((s) => parseInt(s, 10))

const network = await TestNetwork.create({
  plc: { port: plcPort },
  pds: {
    port: pdsPort,
    hostname: 'localhost',
    enableDidDocWithSession: true,
    // Off as in dev-env unless a test asks: then the PDS's own limits
    // (30 sign-ins per 5 minutes per account, 3000 requests per IP...).
    rateLimitsEnabled: process.env.DEVNET_RATE_LIMITS === '1',
  },
  bsky: {
    port: bskyPort,
    dbPostgresSchema: 'bsky',
    publicUrl: `http://localhost:${bskyPort}`,
  },
  dbPostgresSchema: 'devnet',
})

// Requests per account and method, as the PDS and the AppView saw them:
// the benchmark's "requests per account per poll".
const counts = {}
function countRequests(server, where) {
  server.prependListener('request', (req) => {
    const path = (req.url || '').split('?')[0]
    if (!path.startsWith('/xrpc/')) return
    let sub = 'anonymous'
    const auth = req.headers.authorization || ''
    const m = /^Bearer ([^.]+)\.([^.]+)\./.exec(auth)
    if (m) {
      try {
        sub = JSON.parse(Buffer.from(m[2], 'base64url').toString()).sub || sub
      } catch {}
    }
    const key = `${where} ${sub} ${path.slice(6)}`
    counts[key] = (counts[key] || 0) + 1
  })
}
countRequests(network.pds.server.server, 'pds')
countRequests(network.bsky.server.server, 'appview')

const users = {}
for (const name of ['alice', 'bob', 'carla']) {
  const agent = network.pds.getAgent()
  const res = await agent.createAccount({
    handle: `${name}.test`,
    email: `${name}@test.invalid`,
    password: 'hunter2',
  })
  users[`${name}.test`] = res.data.did
}
await network.processAll()

const plc = new plcLib.Client(network.plc.url)

function json(res, status, body) {
  const s = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(s),
  })
  res.end(s)
}

const control = http.createServer(async (req, res) => {
  let body = ''
  for await (const chunk of req) body += chunk
  const args = body ? JSON.parse(body) : {}
  try {
    if (req.url === '/clock') {
      clockOffsetMs += (args.advance_s || 0) * 1000
      return json(res, 200, { offset_s: clockOffsetMs / 1000 })
    }
    if (req.url === '/counts') return json(res, 200, counts)
    if (req.url === '/move') {
      // The account's PDS moves: its DID document names another address.
      await plc.updatePds(args.did, network.pds.ctx.plcRotationKey, args.endpoint)
      return json(res, 200, { ok: true })
    }
    if (req.url === '/process') {
      await network.processAll()
      return json(res, 200, { ok: true })
    }
    json(res, 404, { error: 'NotFound' })
  } catch (e) {
    json(res, 500, { error: 'Failed', message: String(e && e.message) })
  }
})
await new Promise((ok) => control.listen(controlPort, '127.0.0.1', ok))

process.stdout.write(
  'READY ' +
    JSON.stringify({
      plc: `http://127.0.0.1:${plcPort}`,
      pds: `http://127.0.0.1:${pdsPort}`,
      pds_public: network.pds.url,
      appview: `http://127.0.0.1:${bskyPort}`,
      users,
    }) +
    '\n',
)

let closing = false
async function shutdown() {
  if (closing) return
  closing = true
  control.close()
  try {
    await network.close()
  } catch {}
  process.exit(0)
}
process.stdin.on('end', shutdown)
process.stdin.on('close', shutdown)
process.stdin.resume()
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
