/** The typed, validated stack config: schema, validation, loading (nothing else reads stack configuration). */
export * from "./load";
export * from "./schema";
export { sizeToBytes } from "./to-settings";
export * from "./validate";
