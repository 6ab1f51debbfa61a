/**
 * The checks of `npm run verify`, each looking at the deployment the way a
 * client, a federating server or the WeChat agent does. Every check turns what
 * it saw into rows of the report; none throws for a broken or dead server.
 */
export * from "./admin";
export * from "./certificates";
export { WECHAT_SECRET_HINT, networkFix, parseJson, type CheckContext } from "./common";
export * from "./server";
export * from "./stickers";
export * from "./uploads";
export * from "./wechat";
export * from "./well-known";
