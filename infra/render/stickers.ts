/**
 * The sticker picker widget (issue 9): which files make it, where it is served, and how it is
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

/** One entry of m.widgets, as Element reads a user widget (type m.stickerpicker). */
export interface WidgetEvent {
  content: { type: string; url: string; name: string; data: Record<string, unknown>; waitForIframeLoad?: boolean };
  sender: string;
  state_key: string;
  type: "m.widget";
  id: string;
}

/**
 * The owner's m.widgets with the kit's picker in it. Element shows one sticker picker: another
 * m.stickerpicker (a picker set up by hand before) is replaced; other widgets are kept.
 */
export function withStickerWidget(s: Settings, current: Record<string, WidgetEvent>): Record<string, WidgetEvent> {
  const kept = Object.fromEntries(Object.entries(current).filter(([id, w]) => id !== STICKER_WIDGET_ID && w?.content?.type !== "m.stickerpicker"));
  return {
    ...kept,
    [STICKER_WIDGET_ID]: {
      content: { type: "m.stickerpicker", url: stickerWidgetUrl(s), name: "Stickers", data: {}, waitForIframeLoad: true },
      sender: `@${s.admin}:${s.domain}`,
      state_key: STICKER_WIDGET_ID,
      type: "m.widget",
      id: STICKER_WIDGET_ID,
    },
  };
}
