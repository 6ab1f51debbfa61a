/**
 * The sticker picker widget: which files make it, where it is served, and how it is
 * registered in the owner's account data so that Element shows it with no manual step. Pure.
 */
import type { Settings } from "../settings";
import { publicBaseUrl } from "./discovery";

/** The widget's own files (templates/stickers/), by resource id. */
export const STICKER_WIDGET_FILES = [
  { id: "page", file: "index.html" },
  { id: "script", file: "widget.js" },
  { id: "style", file: "widget.css" },
] as const;

/** The widget's id in the owner's m.widgets account data. */
export const STICKER_WIDGET_ID = "matrix-kit-stickers";

export function stickerWidgetUrl(s: Settings): string {
  return `${publicBaseUrl(s)}/stickers/`;
}

/**
 * The URL in the owner's m.widgets: the page, the client's theme (a template variable Element
 * fills in, MSC2873) and the packs' revision. Element recreates a widget's frame only when this
 * URL changes, so a new revision reloads a picker that is open; the page also reads the packs
 * again each time it is shown.
 */
export function stickerWidgetTemplateUrl(s: Settings, revision: string): string {
  return `${stickerWidgetUrl(s)}?theme=$org.matrix.msc2873.client_theme&packs=${encodeURIComponent(revision)}`;
}

/** One entry of m.widgets, as Element reads a user widget (type m.stickerpicker). */
export interface WidgetEvent {
  content: { type: string; url: string; name: string; data: Record<string, unknown>; waitForIframeLoad?: boolean; creatorUserId?: string; id?: string };
  sender: string;
  state_key: string;
  type: "m.widget";
  id: string;
}

/**
 * The owner's m.widgets with the kit's picker in it, as Element's own writer makes the entry
 * (content.creatorUserId and content.id included: matrix-widget-api's Widget refuses a widget
 * without a creator, and Element 1.11.25 then showed a blank picker). Element shows one sticker
 * picker: another m.stickerpicker (a picker set up by hand before) is replaced; other widgets are kept.
 */
export function withStickerWidget(s: Settings, current: Record<string, WidgetEvent>, revision: string): Record<string, WidgetEvent> {
  const kept = Object.fromEntries(Object.entries(current).filter(([id, w]) => id !== STICKER_WIDGET_ID && w?.content?.type !== "m.stickerpicker"));
  const owner = `@${s.admin}:${s.domain}`;
  return {
    ...kept,
    [STICKER_WIDGET_ID]: {
      content: { type: "m.stickerpicker", url: stickerWidgetTemplateUrl(s, revision), name: "Stickers", data: {}, waitForIframeLoad: true, creatorUserId: owner, id: STICKER_WIDGET_ID },
      sender: owner,
      state_key: STICKER_WIDGET_ID,
      type: "m.widget",
      id: STICKER_WIDGET_ID,
    },
  };
}
