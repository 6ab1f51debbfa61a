export * from "./collect";
export * from "./parse";
export * from "./report";
