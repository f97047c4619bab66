// The live feed: /sse/changes on the whole CSE, as the operator's originator.
// EventSource reconnects by itself; after any gap (a CSE restart, a network cut) the page
// cannot know what it missed, so every (re)connection triggers a full reload of the model.

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;

export class LiveFeed {
  /**
   * @param {string} path structured path of the subtree to watch
   * @param {string} origin the operator's originator
   * @param {{onChange: Function, onOpen: Function, onState: Function}} handlers
   *   onChange(kind, data): kind is create, update or delete; data the event's JSON text
   */
  constructor(path, origin, handlers) {
    this.path = path;
    this.origin = origin;
    this.handlers = handlers;
    this.source = null;
    this.retryMs = RETRY_MIN_MS;
    this.timer = null;
    this.closed = false;
  }

  start() {
    this.closed = false;
    this.connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
  }

  connect() {
    const query = new URLSearchParams({ path: this.path, origin: this.origin });
    const source = new EventSource(`/sse/changes?${query}`);
    this.source = source;
    this.handlers.onState("connecting");
    source.onopen = () => {
      this.retryMs = RETRY_MIN_MS;
      this.handlers.onState("live");
      this.handlers.onOpen();
    };
    // Events are handed over unparsed: the page parses and applies them in time slices.
    for (const kind of ["create", "update", "delete"]) {
      source.addEventListener(kind, (event) => this.handlers.onChange(kind, event.data));
    }
    source.onerror = () => {
      if (this.closed) return;
      this.handlers.onState("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // Refused (e.g. an HTTP error answer): EventSource gives up, so retry ourselves.
        this.timer = setTimeout(() => this.connect(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      }
    };
  }
}
