// Managed by matrix-kit (stack dev): answers Matrix discovery for dev.example.com.
// Served on <domain>/.well-known/matrix/* so clients and federating servers find
// matrix.dev.example.com; CORS is open because web clients (Element) fetch it cross-origin.
const BODIES = {
  // No "/.well-known/matrix/server": federation is off (matrix:federation.mode), so no server is told where to find it.
  "/.well-known/matrix/client": {"m.homeserver":{"base_url":"https://matrix.dev.example.com"}},
};

const CORS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
  "Access-Control-Allow-Headers": "X-Requested-With, Content-Type, Authorization",
};

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    const body = Object.prototype.hasOwnProperty.call(BODIES, pathname) ? BODIES[pathname] : undefined;
    if (body === undefined) {
      return new Response("Not Found\n", { status: 404, headers: { ...CORS, "Content-Type": "text/plain" } });
    }
    if (request.method === "OPTIONS") {
      return new Response(null, { status: 204, headers: { ...CORS, "Access-Control-Max-Age": "86400" } });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method Not Allowed\n", { status: 405, headers: { ...CORS, Allow: "GET, HEAD, OPTIONS" } });
    }
    const text = JSON.stringify(body);
    return new Response(request.method === "HEAD" ? null : text, {
      status: 200,
      headers: { ...CORS, "Content-Type": "application/json", "Cache-Control": "public, max-age=3600" },
    });
  },
};
