/**
 * Names several renderers share and none of them owns: the kit's own accounts and what they keep.
 * Below every renderer (it imports nothing of theirs), so that each imports it downward.
 */

/** The watchdog's monitoring account's localpart: outside both bridges' namespaces, never the owner. */
export const MONITOR_LOCALPART = "kit-watchdog";

/**
 * The monitoring account's account data that lists the rooms the watchdog made (its chat with the
 * owner, one probe room per bridge), by purpose: templates/watchdog/probe_room.py keeps it, and a
 * restore tells those rooms' events from the owner's by it.
 */
export const WATCHDOG_ROOMS_KEY = "org.matrix-kit.watchdog.rooms";
