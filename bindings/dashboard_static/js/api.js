// oneM2M requests over the HTTP binding (TS-0009), as the operator's originator.

const TY = { acp: 1, ae: 2, cnt: 3, cin: 4, cb: 5, sub: 23 };
export const ROOTS = { 1: "m2m:acp", 2: "m2m:ae", 3: "m2m:cnt", 4: "m2m:cin", 5: "m2m:cb",
  15: "m2m:pch", 23: "m2m:sub" };
export { TY };

export class M2MError extends Error {
  constructor(rsc, message, httpStatus) {
    super(message);
    this.rsc = rsc;
    this.httpStatus = httpStatus;
  }
}

let counter = 0;
function requestId() {
  counter += 1;
  return `dash-${Date.now().toString(36)}-${counter}`;
}

export class Api {
  constructor(cseRn, origin) {
    this.cseRn = cseRn;
    this.origin = origin;
  }

  /** The structured path of `parts` below the CSEBase. */
  at(...parts) {
    return [this.cseRn, ...parts].join("/");
  }

  async request(method, path, { params = {}, body, ty } = {}) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null) query.set(key, String(value));
    }
    const qs = query.toString();
    const headers = {
      "X-M2M-Origin": this.origin,
      "X-M2M-RI": requestId(),
      "X-M2M-RVI": "3",
      Accept: "application/json",
    };
    if (body !== undefined) {
      headers["Content-Type"] = ty ? `application/json;ty=${ty}` : "application/json";
    }
    const response = await fetch(`/${path}${qs ? `?${qs}` : ""}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const rsc = Number(response.headers.get("X-M2M-RSC") || 0);
    const text = await response.text();
    let json = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    if (!response.ok || rsc >= 4000) {
      const why = (json && json["m2m:dbg"]) || response.statusText || "request failed";
      throw new M2MError(rsc || response.status, `${method} ${path}: ${rsc} ${why}`, response.status);
    }
    return json;
  }

  async retrieve(path, params) {
    const json = await this.request("GET", path, { params });
    return json ? Object.values(json)[0] : null;
  }

  /** Children (or, with lvl, descendants) of `path` matching the filter criteria. */
  async children(path, params) {
    const json = await this.request("GET", path, { params: { rcn: 8, ...params } });
    const inner = json ? Object.values(json)[0] : null;
    if (!inner) return [];
    return Object.entries(inner).flatMap(([root, list]) =>
      Array.isArray(list) ? list.map((item) => ({ root, ...item })) : []);
  }

  /** The newest `count` instances of a container, oldest first (`cni`: its instance count,
   * when already known). */
  async tail(path, count, cni = null) {
    const total = cni ?? (await this.retrieve(path)).cni ?? 0;
    const skip = Math.max(0, total - count);
    return this.children(path, { ty: TY.cin, ofst: skip, lim: count });
  }

  async latest(container) {
    try {
      return await this.retrieve(`${container}/la`);
    } catch (error) {
      if (error.rsc === 4004) return null;
      throw error;
    }
  }

  async discover(path, params) {
    const json = await this.request("GET", path, { params: { fu: 1, ...params } });
    return (json && json["m2m:uril"]) || [];
  }

  async create(path, ty, attrs) {
    const json = await this.request("POST", path, { body: { [ROOTS[ty]]: attrs }, ty });
    return json ? Object.values(json)[0] : null;
  }

  async createInstance(container, con, extra = {}) {
    return this.create(container, TY.cin, { cnf: "application/json:0", con, ...extra });
  }
}
