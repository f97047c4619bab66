// The city as the page knows it: chargers, sessions, users, alarms, command outcomes.
// Filled by a full load (at start and after every reconnection of the live feed) and kept
// current by the change events of the live feed. Views read it; `dirty` tells them what to
// redraw on the next animation frame.

import { TY } from "./api.js";
import { centsToString, energyCostCents, subtract, toCents } from "./money.js";

export const CHARGER_API = "Ncitycse.chargepoint";
const RECENT_SESSIONS = 50;
// Started sessions read at load: the running ones are among them (a charger's session that
// started before the last 2,000 and still runs shows once it sends its next meter value).
const SESSIONS_LOADED = 2000;
const MESSAGES_KEPT = 8;
const AUDIT_KEPT = 200;
const LOAD_CONCURRENCY = 16;
const STATUS_LOADED = 10;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
export const COMMAND_ACTIONS = [
  "RemoteStopTransaction", "RemoteStartTransaction", "ChangeAvailability",
  "SetChargingProfile", "ClearChargingProfile", "Reset", "UnlockConnector",
  "RequestStartTransaction", "RequestStopTransaction",
];

/** oneM2M timestamp (20261124T102229,073773) or ISO 8601 as epoch milliseconds. */
export function parseTime(text) {
  if (text === undefined || text === null) return NaN;
  if (typeof text === "number") return text * 1000;
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:[,.](\d+))?$/.exec(text);
  if (m) {
    const ms = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
    return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) + ms;
  }
  return Date.parse(text);
}

export function m2mTime(ms) {
  return new Date(ms).toISOString().replace(/[-:]/g, "").slice(0, 15);
}

function labelValue(labels, key) {
  const found = (labels || []).find((l) => l.startsWith(`${key}:`));
  return found ? found.slice(key.length + 1) : null;
}

async function inBatches(items, work) {
  const queue = [...items];
  const workers = Array.from({ length: Math.min(LOAD_CONCURRENCY, queue.length) }, async () => {
    while (queue.length) await work(queue.shift());
  });
  await Promise.all(workers);
}

function summarize(container, con) {
  if (!con || typeof con !== "object") return String(con);
  switch (container) {
    case "status":
      if (con.status) return `connector ${con.connectorId}: ${con.status}` +
        (con.errorCode && con.errorCode !== "NoError" ? ` (${con.errorCode})` : "");
      return Object.entries(con).map(([k, v]) => `${k}: ${v}`).join(", ");
    case "meter": {
      const last = (con.energySamples || []).at(-1);
      return `meter ${last ? `${last.wh} Wh` : ""} tx ${con.transactionId ?? "–"}`;
    }
    case "info":
      return `boot ${con.chargePointVendor || ""} ${con.chargePointModel || ""}`.trim();
    case "transactions":
      return `session ${con.transactionId} ended: ${con.energyWh} Wh, ${con.cost}`;
    case "commands":
      return `command ${con.action}` + (con.result ? ` → ${con.result}` : "");
    case "results":
      return `${con.action} → ${con.status}`;
    case "connection":
      return `${con.state} (${con.protocol})` + (con.reason ? `: ${con.reason}` : "");
    default:
      return container;
  }
}

export class CityModel {
  constructor(api) {
    this.api = api;
    this.dirty = new Set();
    this.onDirty = () => {};
    // Activity is counted from the live feed as the page sees it (and kept across reloads);
    // only the energy of sessions running at the first load is filled in from their samples.
    this.openedAt = Date.now();
    this.energyByMinute = new Map();
    this.messagesByMinute = new Map();
    this.energyBackfilled = false;
    this.updatesApplied = 0;
    this.reset();
  }

  reset() {
    this.chargers = new Map();
    this.chargerByRn = new Map();
    this.sessions = new Map();
    this.users = new Map();
    this.alarms = new Map();
    this.grid = new Map();
    this.audit = [];
    this.results = new Map();
    this.containerOwner = new Map();
    this.tariff = null;
    this.loaded = false;
  }

  mark(...areas) {
    for (const area of areas) this.dirty.add(area);
    this.onDirty();
  }

  // -- full load ----------------------------------------------------------------------------

  async load() {
    this.reset();
    const base = this.api.at();
    const [aes, containers] = await Promise.all([
      this.api.children(base, { ty: TY.ae }),
      this.api.children(base, { ty: TY.cnt, lvl: 2 }),
    ]);
    for (const ae of aes) this.addAe(ae);
    for (const cnt of containers) this.containerOwner.set(cnt.ri, { pi: cnt.pi, rn: cnt.rn, cni: cnt.cni });
    this.mark("chargers", "filters");
    await Promise.all([
      this.loadTariff(),
      this.loadAlarms(aes),
      this.loadAudit(),
      this.loadUsers(),
    ]);
    const counts = new Map(containers.map((c) => [`${c.pi}/${c.rn}`, c.cni]));
    await inBatches([...this.chargers.values()], (charger) => this.loadCharger(charger, counts));
    await this.loadSessions();
    this.loaded = true;
    this.mark("chargers", "sessions", "users", "safety", "activity", "filters");
  }

  addAe(ae) {
    const cpId = labelValue(ae.lbl, "chargePoint");
    if (ae.api === CHARGER_API || cpId) {
      const id = cpId || ae.rn.replace(/^cp-/, "");
      const charger = this.chargers.get(id) || this.newCharger(id);
      Object.assign(charger, {
        rn: ae.rn, ri: ae.ri, labels: ae.lbl || [],
        site: labelValue(ae.lbl, "site"), feeder: labelValue(ae.lbl, "feeder"),
      });
      this.chargers.set(id, charger);
      this.chargerByRn.set(charger.rn, charger);
      this.mark(`charger:${id}`, "filters");
    } else if (labelValue(ae.lbl, "site")) {
      const alarm = this.alarms.get(ae.rn) || { rn: ae.rn, active: false, since: null };
      Object.assign(alarm, { site: labelValue(ae.lbl, "site"), ri: ae.ri, labels: ae.lbl });
      this.alarms.set(ae.rn, alarm);
      this.mark("safety");
    }
  }

  newCharger(id) {
    return {
      id, rn: `cp-${id}`, ri: null, labels: [], site: null, feeder: null, info: null,
      connectors: new Map(), messages: [], lastSeen: 0, connection: null, connectionRecord: null,
      session: null,
    };
  }

  async loadTariff() {
    const cin = await this.api.latest(this.api.at("evcs", "tariffs")).catch(() => null);
    this.tariff = cin ? cin.con : null;
  }

  /** Fire alarms' latest state; grid feeds (AEs labelled grid or feeder:) latest windows. */
  async loadAlarms(aes) {
    await inBatches([...this.alarms.values()], async (alarm) => {
      const cin = await this.api.latest(this.api.at(alarm.rn, "alarm")).catch(() => null);
      if (cin) this.applyAlarm(alarm.rn, cin);
    });
    const feeds = aes.filter((ae) => ae.api !== CHARGER_API &&
      /(^|\s)grid|feeder:/.test((ae.lbl || []).join(" ")));
    await inBatches(feeds, async (ae) => {
      for (const rn of ["forecast", "load"]) {
        const cin = await this.api.latest(this.api.at(ae.rn, rn)).catch(() => null);
        if (cin) this.grid.set(`${ae.rn}/${rn}`, { source: `${ae.rn}/${rn}`, con: cin.con, ct: cin.ct });
      }
    });
  }

  async loadAudit() {
    const since = m2mTime(Date.now() - 24 * HOUR_MS);
    const found = await this.api.children(this.api.at(), {
      ty: TY.cin, lvl: 3, cra: since,
      lbl: COMMAND_ACTIONS.map((a) => `action:${a}`).join(" "),
    }).catch(() => []);
    for (const cin of found.slice(-AUDIT_KEPT)) {
      const owner = this.chargerOfContainer(cin.pi);
      if (owner) this.applyResult(owner, cin);
    }
  }

  chargerOfContainer(containerRi) {
    const cnt = this.containerOwner.get(containerRi);
    if (!cnt) return null;
    const charger = [...this.chargers.values()].find((c) => c.ri === cnt.pi);
    return charger ? charger.id : null;
  }

  async loadUsers() {
    const users = await this.api.children(this.api.at("evcs", "users"), { ty: TY.cnt })
      .catch(() => []);
    await inBatches(users, async (cnt) => {
      const user = { tag: cnt.rn, balance: null, wallet: null };
      this.users.set(cnt.rn, user);
      const cin = await this.api.latest(this.api.at("evcs", "users", cnt.rn, "wallet"))
        .catch(() => null);
      if (cin) user.balance = cin.con.balance;
    });
  }

  /** Boot data, the latest statuses and connection record; instance counts come from the
   * container list (a charger whose `connection` has no record yet costs no request). */
  async loadCharger(charger, counts) {
    const path = this.api.at(charger.rn);
    const [statuses, info, connection] = await Promise.all([
      this.api.tail(`${path}/status`, STATUS_LOADED, counts.get(`${charger.ri}/status`))
        .catch(() => []),
      this.api.latest(`${path}/info`).catch(() => null),
      counts.get(`${charger.ri}/connection`)
        ? this.api.latest(`${path}/connection`).catch(() => null) : null,
    ]);
    if (info) this.applyChargerInstance(charger, "info", info, false);
    if (connection) this.applyChargerInstance(charger, "connection", connection, false);
    for (const cin of statuses) this.applyChargerInstance(charger, "status", cin, false);
  }

  async loadSessions() {
    const container = this.api.at("evcs", "sessions");
    const started = await this.api.tail(container, SESSIONS_LOADED).catch(() => []);
    for (const cin of started) this.applySessionStart(cin, false);
    // The latest accepted session of each connector may still run; the others have ended.
    const latestOfConnector = new Map();
    for (const s of this.sessions.values()) latestOfConnector.set(`${s.cpId}/${s.connectorId}`, s);
    const candidates = new Set([
      ...[...this.sessions.values()].slice(-RECENT_SESSIONS),
      ...[...latestOfConnector.values()].filter((s) => s.status === "Accepted"),
    ]);
    await inBatches([...candidates], async (session) => {
      const charger = this.chargers.get(session.cpId);
      if (!charger) return;
      try {
        const record = await this.api.retrieve(this.api.at(charger.rn, "transactions", `tx-${session.txid}`));
        session.record = record.con;
      } catch (error) {
        if (error.rsc !== 4004) throw error;
      }
      const running = !session.record && session.status === "Accepted" &&
        latestOfConnector.get(`${session.cpId}/${session.connectorId}`) === session;
      if (running) {
        charger.session = session.txid;
        const samples = await this.api.children(this.api.at(charger.rn, "meter"), {
          ty: TY.cin, lbl: `transaction:${session.txid}`,
        }).catch(() => []);
        for (const cin of samples) this.addSamples(session, cin.con, parseTime(cin.ct));
        if (!this.energyBackfilled) this.backfillEnergy(session);
      }
    });
    for (const session of this.sessions.values()) {
      if (!session.record && !candidates.has(session)) session.stale = true;
    }
    this.energyBackfilled = true;
  }

  // -- live changes -------------------------------------------------------------------------

  apply(kind, data) {
    this.updatesApplied += 1;
    const parts = data.srn.split("/");
    const root = Object.keys(data).find((k) => k.startsWith("m2m:"));
    const resource = data[root] || {};
    if (data.ty === TY.ae && parts.length === 2) {
      if (kind === "delete") this.removeAe(parts[1]);
      else this.addAe(resource);
      return;
    }
    if (data.ty === TY.cnt) {
      if (kind !== "delete") this.containerOwner.set(resource.ri, { pi: resource.pi, rn: resource.rn });
      if (parts[1] === "evcs" && parts[2] === "users" && parts.length === 4) {
        if (kind === "delete") this.users.delete(parts[3]);
        else if (!this.users.has(parts[3])) this.users.set(parts[3], { tag: parts[3], balance: null });
        this.mark("users");
      }
      return;
    }
    if (data.ty !== TY.cin || kind !== "create") return;
    this.applyInstance(parts, resource);
  }

  removeAe(rn) {
    for (const [id, charger] of this.chargers) {
      if (charger.rn === rn) {
        this.chargers.delete(id);
        this.chargerByRn.delete(rn);
        this.mark("chargers", "filters");
      }
    }
    if (this.alarms.delete(rn)) this.mark("safety");
  }

  applyInstance(parts, cin) {
    const [, top, second, third] = parts;
    if (top === "evcs") {
      if (second === "sessions") this.applySessionStart(cin, true);
      else if (second === "tariffs") {
        this.tariff = cin.con;
        this.mark("safety", "chargers");
      } else if (second === "users" && parts.length === 6 && parts[4] === "wallet") {
        const user = this.users.get(third) || { tag: third };
        user.balance = cin.con.balance;
        if (user.wallet) user.wallet.push({ ...cin.con, ct: cin.ct });
        this.users.set(third, user);
        this.mark("users", `user:${third}`);
      } else if (second === "users" && parts.length === 6 && parts[4] === "transactions") {
        const user = this.users.get(third);
        if (user && user.history) user.history.push(cin.con);
        this.mark(`user:${third}`);
      }
      return;
    }
    if (parts.length !== 4) return;
    const charger = this.chargerByRn.get(top);
    if (charger) {
      this.applyChargerInstance(charger, second, cin, true);
      return;
    }
    if (second === "alarm") this.applyAlarm(top, cin);
    else if (second === "forecast" || second === "load") {
      this.grid.set(`${top}/${second}`, { source: `${top}/${second}`, con: cin.con, ct: cin.ct });
      this.mark("safety");
    }
  }

  applyChargerInstance(charger, container, cin, live) {
    const con = cin.con || {};
    const at = parseTime(cin.ct);
    if (Number.isFinite(at)) charger.lastSeen = Math.max(charger.lastSeen, at);
    if (container === "status") {
      if (con.connection) charger.connection = con.connection;
      if (con.status !== undefined && con.connectorId !== undefined) {
        charger.connectors.set(Number(con.connectorId), {
          status: con.status, errorCode: con.errorCode, at,
        });
      }
    } else if (container === "info") {
      charger.info = con;
    } else if (container === "connection") {
      charger.connection = con.state;
      charger.connectionRecord = con;
    } else if (container === "meter") {
      const session = this.sessions.get(Number(con.transactionId));
      if (session && live) {
        const before = session.wh;
        this.addSamples(session, con, at);
        this.addEnergy(at, Number(session.wh) - Number(before ?? session.meterStart));
        this.mark("sessions");
      }
    } else if (container === "transactions") {
      const session = this.sessions.get(Number(con.transactionId));
      if (session) session.record = con;
      if (charger.session === Number(con.transactionId)) charger.session = null;
      this.mark("sessions");
    } else if (container === "commands" || container === "results") {
      this.applyResult(charger.id, cin);
    }
    charger.messages.push({ at, text: summarize(container, con) });
    if (charger.messages.length > MESSAGES_KEPT) charger.messages.shift();
    if (live) this.countMessage(at);
    this.mark(`charger:${charger.id}`);
  }

  applySessionStart(cin, live) {
    const con = cin.con || {};
    const txid = Number(con.transactionId);
    if (!Number.isFinite(txid)) return;
    const session = this.sessions.get(txid) || {
      txid, cpId: con.chargePointId, connectorId: Number(con.connectorId), tag: con.idTag,
      meterStart: con.meterStart, start: con.timestamp, hold: con.hold, status: con.status,
      wh: null, samples: [], record: null,
    };
    this.sessions.set(txid, session);
    const charger = this.chargers.get(session.cpId);
    if (live && charger && session.status === "Accepted") {
      charger.session = txid;
      this.mark(`charger:${charger.id}`);
    }
    this.mark("sessions");
  }

  addSamples(session, con, fallbackAt) {
    for (const sample of con.energySamples || []) {
      const at = sample.t !== undefined ? Number(sample.t) * 1000 : fallbackAt;
      session.samples.push([at, String(sample.wh)]);
      if (session.wh === null || Number(sample.wh) >= Number(session.wh)) session.wh = String(sample.wh);
    }
    const charger = this.chargers.get(session.cpId);
    if (charger) this.mark(`charger:${charger.id}`);
  }

  applyAlarm(rn, cin) {
    const alarm = this.alarms.get(rn) || { rn, site: null };
    alarm.active = Boolean(cin.con && cin.con.active);
    alarm.since = cin.ct;
    this.alarms.set(rn, alarm);
    this.mark("safety", "chargers");
  }

  applyResult(cpId, cin) {
    const con = cin.con || {};
    const entry = {
      cpId, at: cin.ct, action: con.action, request: con.request, reason: con.reason,
      status: con.status || con.result || "requested", requestedBy: con.requestedBy || null,
      response: con.response, error: con.error,
      command: con.command || (con.status === undefined && con.result === undefined ? cin.ri : null),
      ri: cin.ri,
    };
    if (con.command) this.results.set(con.command, entry);
    this.audit.push(entry);
    if (this.audit.length > AUDIT_KEPT) this.audit.shift();
    this.mark("safety", "results");
  }

  // -- derived values -----------------------------------------------------------------------

  /** Energy so far (Wh) of a running session. */
  sessionEnergy(session) {
    if (session.record) return Number(session.record.energyWh);
    if (session.wh === null) return 0;
    return Math.max(0, Number(session.wh) - Number(session.meterStart));
  }

  /** Cost so far, priced interval by interval at the tariff (with its surge factors). */
  sessionCost(session) {
    if (session.record) return session.record.cost;
    if (!this.tariff) return null;
    const points = [[parseTime(session.start), String(session.meterStart)], ...session.samples]
      .sort((a, b) => a[0] - b[0]);
    const intervals = [];
    for (let i = 1; i < points.length; i += 1) {
      intervals.push([subtract(points[i][1], points[i - 1][1]), this.factorAt(points[i][0])]);
    }
    return centsToString(energyCostCents(intervals, this.tariff.pricePerKwh));
  }

  factorAt(ms) {
    let factor = "1";
    for (const surge of (this.tariff && this.tariff.surges) || []) {
      if (parseTime(surge.start) <= ms && ms < parseTime(surge.end) &&
          toCents(surge.factor) > toCents(factor)) {
        factor = String(surge.factor);
      }
    }
    return factor;
  }

  activeAlarmSites() {
    return new Set([...this.alarms.values()].filter((a) => a.active).map((a) => a.site));
  }

  // -- activity -----------------------------------------------------------------------------

  countMessage(at) {
    const key = Math.floor((Number.isFinite(at) ? at : Date.now()) / MINUTE_MS);
    this.messagesByMinute.set(key, (this.messagesByMinute.get(key) || 0) + 1);
    this.mark("activity");
  }

  backfillEnergy(session) {
    const points = [[parseTime(session.start), Number(session.meterStart)],
      ...session.samples.map(([at, wh]) => [at, Number(wh)])].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < points.length; i += 1) {
      if (points[i][0] >= Date.now() - HOUR_MS) this.addEnergy(points[i][0], points[i][1] - points[i - 1][1]);
    }
  }

  addEnergy(at, wh) {
    if (!(wh > 0)) return;
    const key = Math.floor((Number.isFinite(at) ? at : Date.now()) / MINUTE_MS);
    this.energyByMinute.set(key, (this.energyByMinute.get(key) || 0) + wh);
    this.mark("activity");
  }
}
