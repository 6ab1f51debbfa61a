/// <reference lib="dom" />
/**
 * Browser code (bundled by esbuild for the e2e's parent page): the client side of a sticker
 * picker as Element Web runs it, with the real `ClientWidgetApi` from matrix-widget-api (the
 * package Element uses for every widget):
 *   - the widget built from the owner's m.widgets entry as read back from Synapse (matrix-widget-api's
 *     `Widget` refuses one without creatorUserId, as Element's did);
 *   - its frame's URL as Element's StopGapWidget makes it: the template filled in by
 *     `getCompleteUrl` (theme, user), then `widgetId` and `parentUrl` added;
 *   - a driver granting what Element's StopGapWidgetDriver grants an account sticker picker
 *     (screenshots, m.sticker, the MSC2762 m.sticker send capability, "visibility"), the rest
 *     only after a prompt (recorded here: the kit's picker must need none), and returning the
 *     requested capabilities it allows;
 *   - `action:m.sticker` handled as StopGapWidget does: acknowledged with {}, the data kept;
 *   - visibility (Stickerpicker on open and close) and theme changes (ThemeWatcher) sent as Element sends them.
 * What differs from Element: no room or Matrix client (the sticker is recorded, not sent to a
 * room); no prompt dialog (a capability that would need one is recorded and refused); the frame
 * is an ordinary iframe, not Element's persisted AppTile (hidden and shown here by the test
 * through visibility alone, the frame kept, as Element keeps it); `getCompleteUrl` is given the
 * user, client id, theme and language only (Element also fills in the display name, avatar,
 * device id and base URL, none of which the kit's widget URL uses); no `m.widgets` watch (Element
 * recreates the frame when the entry's URL changes: the test exercises the visibility path).
 */
import { ClientWidgetApi, EventDirection, MatrixCapabilities, Widget, WidgetDriver, WidgetEventCapability, type Capability, type IWidget } from "matrix-widget-api";

/** What Element's StopGapWidgetDriver grants an account widget of type m.stickerpicker without asking. */
export const ELEMENT_STICKER_PICKER_GRANTS: Capability[] = [
  MatrixCapabilities.Screenshots,
  MatrixCapabilities.StickerSending,
  WidgetEventCapability.forRoomEvent(EventDirection.Send, "m.sticker").raw,
  "visibility",
];

class StickerPickerDriver extends WidgetDriver {
  readonly wouldPrompt: Capability[] = [];
  readonly requested: Capability[] = [];

  async validateCapabilities(requested: Set<Capability>): Promise<Set<Capability>> {
    this.requested.push(...requested);
    const allowed = new Set(ELEMENT_STICKER_PICKER_GRANTS);
    for (const c of requested) if (!allowed.has(c)) this.wouldPrompt.push(c);
    return new Set([...requested].filter((c) => allowed.has(c)));
  }
}

interface HostState {
  ready: boolean;
  notified: boolean;
  requested: Capability[];
  wouldPrompt: Capability[];
  stickers: unknown[];
  warnings: string[];
  frameUrl: string;
}

declare global {
  interface Window {
    kitHost: {
      start(definition: IWidget, opts: { userId: string; theme: string; parentUrl?: string }): HostState;
      api?: ClientWidgetApi;
      state?: HostState;
    };
  }
}

// Element's console warnings from the widget API (an unanswered supported_api_versions is one).
const warn = console.warn.bind(console);
const warnings: string[] = [];
console.warn = (...args: unknown[]) => {
  warnings.push(args.map(String).join(" "));
  warn(...args);
};

window.kitHost = {
  start(definition, opts) {
    const widget = new Widget(definition);
    const url = new URL(widget.getCompleteUrl({ widgetRoomId: "", currentUserId: opts.userId, clientId: "io.element.web", clientTheme: opts.theme, clientLanguage: "en" }));
    url.searchParams.set("widgetId", widget.id);
    url.searchParams.set("parentUrl", opts.parentUrl ?? window.location.href.split("#", 2)[0]);
    const iframe = document.createElement("iframe");
    iframe.src = url.toString();
    document.body.appendChild(iframe);
    const driver = new StickerPickerDriver();
    const state: HostState = { ready: false, notified: false, requested: driver.requested, wouldPrompt: driver.wouldPrompt, stickers: [], warnings, frameUrl: iframe.src };
    const api = new ClientWidgetApi(widget, iframe, driver);
    api.on("ready", () => (state.ready = true));
    api.on("capabilitiesNotified", () => (state.notified = true));
    api.on(`action:m.sticker`, (ev: CustomEvent) => {
      if (!api.hasCapability(MatrixCapabilities.StickerSending)) return;
      ev.preventDefault();
      api.transport.reply(ev.detail, {});
      state.stickers.push(ev.detail.data);
    });
    window.kitHost.api = api;
    window.kitHost.state = state;
    return state;
  },
};
